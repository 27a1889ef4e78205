"""Every route under /api/v1/ (SPEC §5), collected from the apps; the fan endpoints, which read
across apps (her tags), are the top app's own (`web.api`)."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from web import api

urlpatterns = [
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("", include("customers.api_urls")),
    path("customers/", api.CustomerListCreateApi.as_view(), name="api-customers"),
    path("customers/lookup/", api.CustomerLookupApi.as_view(), name="api-customer-lookup"),
    path("customers/<int:pk>/", api.CustomerDetailApi.as_view(), name="api-customer-detail"),
    path("", include("tagging.api_urls")),
    path("", include("segmentation.api_urls")),
    path("", include("campaigns.api_urls")),
    path("", include("followups.api_urls")),
]
