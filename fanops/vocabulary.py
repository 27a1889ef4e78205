"""The stable codes of SPEC §2 that every layer speaks: computed label vocabularies.

They live at the bottom layer so that fans, tags, the relabel job and the pages name the same
codes without importing each other.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _


class Apple(models.TextChoices):
    BLOSSOM = "blossom", _("apple blossom")
    GREEN = "green", _("green apple")
    YELLOW = "yellow", _("yellow apple")
    RED = "red", _("red apple")
    GOLDEN = "golden", _("golden apple")


class RfmSegment(models.TextChoices):
    IMPORTANT_VALUE = "important_value", _("important value")
    IMPORTANT_DEVELOPMENT = "important_development", _("important development")
    IMPORTANT_RETAIN = "important_retain", _("important retain")
    IMPORTANT_WINBACK = "important_winback", _("important win-back")
    GENERAL_VALUE = "general_value", _("general value")
    GENERAL_DEVELOPMENT = "general_development", _("general development")
    GENERAL_RETAIN = "general_retain", _("general retain")
    GENERAL_WINBACK = "general_winback", _("general win-back")


class RStage(models.TextChoices):
    ACTIVE = "active", _("active")
    SLEEPING = "sleeping", _("sleeping")
    PRE_CHURN = "pre_churn", _("pre-churn")
    CHURNED = "churned", _("churned")


class Membership(models.TextChoices):
    SUPREME_VIP = "supreme_vip", _("supreme VIP")
    VIP = "vip", _("VIP")
    SENIOR = "senior", _("senior member")
    REGULAR = "regular", _("regular member")


class Rhythm(models.TextChoices):
    MONTHLY = "monthly", _("monthly")
    QUARTERLY = "quarterly", _("quarterly")
    HALF_YEARLY = "half_yearly", _("half-yearly")
    YEARLY = "yearly", _("yearly")
    SINGLE = "single", _("single purchase")


class Forecast(models.TextChoices):
    """The `forecast` group (issue 14): what the purchase model expects of her next."""

    DUE_SOON = "due_soon", _("due soon")
    AT_RISK = "at_risk", _("at risk")
