"""This app's routes under /api/v1/ (included by web/api_urls.py)."""

from django.urls import path

from segmentation import api

urlpatterns = [
    path(
        "stores/<str:code>/apple-quota/",
        api.StoreAppleQuotaApi.as_view(),
        name="api-store-apple-quota",
    ),
    path("apple-quota/", api.CompanyAppleQuotaApi.as_view(), name="api-apple-quota"),
    path("segments/summary/", api.SegmentSummaryApi.as_view(), name="api-segment-summary"),
    path("relabel/", api.RelabelApi.as_view(), name="api-relabel"),
    path("relabel-runs/", api.RelabelRunListApi.as_view(), name="api-relabel-runs"),
]
