"""This app's routes under /api/v1/ (included by web/api_urls.py; the fan routes are web's)."""

from django.urls import path

from customers import api

urlpatterns = [
    path("auth/token/", api.AuthTokenApi.as_view(), name="api-auth-token"),
    path("orders/", api.OrderListCreateApi.as_view(), name="api-orders"),
    path("orders/batch/", api.OrderBatchApi.as_view(), name="api-orders-batch"),
    path("stores/", api.StoreListApi.as_view(), name="api-stores"),
]
