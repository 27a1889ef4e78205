"""Manager and HQ pages (SPEC §6): the store dashboard and HQ."""

from django.urls import path

from segmentation import views

app_name = "segmentation"

urlpatterns = [
    path("dashboard/", views.dashboard, name="dashboard"),
    path("hq/", views.hq, name="hq"),
    path("hq/relabel/", views.relabel_start, name="relabel_start"),
    path("hq/export.csv", views.export_csv, name="export_csv"),
    path("hq/export.xlsx", views.export_xlsx, name="export_xlsx"),
]
