"""Campaign pages (SPEC §6): events, audiences, check-in, exports, results (namespace `campaigns`)."""

from django.urls import path

from web.views import campaigns as views

app_name = "campaigns"

urlpatterns = [
    path("campaigns/", views.campaign_list, name="list"),
    path("campaigns/new/", views.campaign_create, name="create"),
    path("campaigns/<slug:code>/", views.campaign_detail, name="detail"),
    path(
        "campaigns/<slug:code>/audience/preview/",
        views.campaign_audience_preview,
        name="audience_preview",
    ),
    path(
        "campaigns/<slug:code>/audience/freeze/",
        views.campaign_audience_freeze,
        name="audience_freeze",
    ),
    path("campaigns/<slug:code>/check-in/", views.campaign_check_in, name="check_in"),
    path("campaigns/<slug:code>/export.<str:fmt>", views.campaign_export, name="export"),
    path("campaigns/<slug:code>/results/", views.campaign_results_page, name="results"),
]
