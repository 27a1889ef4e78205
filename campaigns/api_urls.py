"""This app's routes under /api/v1/ (included by web/api_urls.py)."""

from django.urls import path

from campaigns import api

urlpatterns = [
    path("campaigns/", api.CampaignListCreateApi.as_view(), name="api-campaign-list"),
    path("campaigns/<slug:code>/", api.CampaignDetailApi.as_view(), name="api-campaign-detail"),
    path(
        "campaigns/<slug:code>/audience/",
        api.CampaignAudienceApi.as_view(),
        name="api-campaign-audience",
    ),
    path(
        "campaigns/<slug:code>/check-ins/",
        api.CampaignCheckInApi.as_view(),
        name="api-campaign-check-in",
    ),
    path(
        "campaigns/<slug:code>/results/",
        api.CampaignResultsApi.as_view(),
        name="api-campaign-results",
    ),
]
