"""This app's pages (included by web/page_urls.py)."""

urlpatterns: list = []
