from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FollowupsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "followups"
    verbose_name = _("follow-ups")

    def ready(self) -> None:
        from followups.receivers import generate_after_relabel
        from segmentation.signals import labels_switched

        labels_switched.connect(generate_after_relabel, dispatch_uid="followups.generate")
