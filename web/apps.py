from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WebConfig(AppConfig):
    """The top layer: every HTTP door that reads across apps (pages, the fan and order API)."""

    default_auto_field = "django.db.models.BigAutoField"
    name = "web"
    verbose_name = _("pages")
