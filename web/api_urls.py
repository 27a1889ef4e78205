"""Every route under /api/v1/ (SPEC §5), collected from the apps."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include("customers.api_urls")),
    path("", include("tagging.api_urls")),
    path("", include("segmentation.api_urls")),
    path("", include("campaigns.api_urls")),
]
