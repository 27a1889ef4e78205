"""Manager and HQ pages (SPEC §6): the store dashboard and HQ (namespace `segmentation`)."""

from django.urls import path

from web.views import store

app_name = "segmentation"

urlpatterns = [
    path("dashboard/", store.dashboard, name="dashboard"),
    path("dashboard/transfer/", store.dashboard_transfer, name="transfer"),
    path("hq/", store.hq, name="hq"),
    path("hq/relabel/", store.relabel_start, name="relabel_start"),
    path("hq/export.csv", store.export_csv, name="export_csv"),
    path("hq/export.xlsx", store.export_xlsx, name="export_xlsx"),
]
