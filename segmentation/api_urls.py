"""This app's routes under /api/v1/ (included by fanops/api_urls.py)."""

urlpatterns: list = []
