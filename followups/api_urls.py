"""This app's routes under /api/v1/ (included by web/api_urls.py)."""

from django.urls import path

from followups import api

urlpatterns = [
    path("follow-ups/", api.FollowUpListApi.as_view(), name="api-follow-ups"),
    path("follow-ups/results/", api.FollowUpResultsApi.as_view(), name="api-follow-up-results"),
    path(
        "follow-ups/<int:pk>/complete/",
        api.FollowUpCompleteApi.as_view(),
        name="api-follow-up-complete",
    ),
    path(
        "follow-ups/<int:pk>/snooze/", api.FollowUpSnoozeApi.as_view(), name="api-follow-up-snooze"
    ),
    path("follow-ups/<int:pk>/skip/", api.FollowUpSkipApi.as_view(), name="api-follow-up-skip"),
    path(
        "customers/<int:pk>/contacts/",
        api.CustomerContactApi.as_view(),
        name="api-customer-contacts",
    ),
]
