from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", include("web.api_urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("web.page_urls")),
]
