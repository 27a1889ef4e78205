"""This app's routes under /api/v1/ (included by web/api_urls.py)."""

from django.urls import path

from tagging import api

urlpatterns = [
    path("tag-groups/", api.TagGroupListApi.as_view(), name="api-tag-groups"),
    path("tags/bulk/", api.TagBulkApi.as_view(), name="api-tags-bulk"),
    path("customers/<int:pk>/tags/", api.CustomerTagsApi.as_view(), name="api-customer-tags"),
]
