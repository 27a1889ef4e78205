"""Page selectors: the reads behind each page, returning plain data (dataclasses, dicts, lists).

They start from the scoping selectors of `customers.selectors` (another store's object is simply
not there) and call the apps' selectors for the numbers. One module per page area.
"""
