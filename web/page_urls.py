"""Server-rendered pages (SPEC §6); each area keeps its URL namespace (`customers:list`, …)."""

from django.contrib.auth import views as auth_views
from django.urls import include, path

from web.views.site import home

urlpatterns = [
    path("", home, name="home"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("web.fan_urls")),
    path("", include("web.store_urls")),
    path("", include("web.campaign_urls")),
]
