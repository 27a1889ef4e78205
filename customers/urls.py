"""This app's pages (included by fanops/web_urls.py)."""

urlpatterns: list = []
