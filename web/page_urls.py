"""Server-rendered pages (SPEC §6), collected from the apps."""

from django.contrib.auth import views as auth_views
from django.urls import include, path

from web.views import home

urlpatterns = [
    path("", home, name="home"),
    path(
        "accounts/login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", include("customers.urls")),
    path("", include("tagging.urls")),
    path("", include("segmentation.urls")),
    path("", include("campaigns.urls")),
]
