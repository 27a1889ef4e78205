from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TaggingConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "tagging"
    verbose_name = _("tagging")
