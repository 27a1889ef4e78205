from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FollowupsConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "followups"
    verbose_name = _("follow-ups")

    def ready(self) -> None:
        from customers.signals import customers_transferred
        from followups.receivers import (
            GENERATE_UID,
            generate_after_relabel,
            move_pending_follow_ups,
        )
        from segmentation.signals import labels_switched

        labels_switched.connect(generate_after_relabel, dispatch_uid=GENERATE_UID)
        customers_transferred.connect(move_pending_follow_ups, dispatch_uid="followups.transfer")
