"""`django.contrib.admin` with FanOps' admin site as `admin.site` (INSTALLED_APPS names this)."""

from django.contrib.admin.apps import AdminConfig as DjangoAdminConfig


class AdminConfig(DjangoAdminConfig):
    default_site = "fanops.admin.FanOpsAdminSite"
