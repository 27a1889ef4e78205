"""Events (campaigns), their frozen audiences, check-ins, the RFM playbooks (seed 001) and the
contact ledger: every contact with a fan, whatever its source, that the do-not-disturb caps count."""

import secrets

from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _

from fanops.db import TimestampedModel
from fanops.vocabulary import Apple, RfmSegment

HOLDOUT_MAX_PERCENT = 50
SEED_MAX = 2**31 - 1


def new_seed() -> int:
    """A fresh random hold-out seed; stored on the event so the split can be reproduced."""
    return secrets.randbelow(SEED_MAX) + 1


class Campaign(TimestampedModel):
    """An event of one or more stores; its audience is frozen once and then measured."""

    class Kind(models.TextChoices):
        ONLINE = "online", _("online")
        OFFLINE = "offline", _("offline")

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=100)
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices, default=Kind.OFFLINE)
    stores = models.ManyToManyField(
        "customers.Store", related_name="campaigns", verbose_name=_("stores")
    )
    starts_on = models.DateField(_("starts on"))
    ends_on = models.DateField(_("ends on"))
    goal = models.TextField(_("goal"), blank=True)
    holdout_percent = models.PositiveSmallIntegerField(
        _("hold-out (%)"),
        default=10,
        validators=[MinValueValidator(0), MaxValueValidator(HOLDOUT_MAX_PERCENT)],
        help_text=_(
            "Share of the eligible audience kept out of the contact list to measure the effect."
        ),
    )
    seed = models.PositiveIntegerField(
        _("seed"),
        default=new_seed,
        validators=[MaxValueValidator(SEED_MAX)],
        help_text=_("The same seed and audience give the same hold-out group."),
    )
    message_template = models.TextField(
        _("message"), blank=True, help_text=_("{name} is replaced by the fan's name.")
    )
    audience_filter = models.JSONField(_("audience filter"), default=dict, blank=True)
    created_by = models.ForeignKey(
        "customers.Staff", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    frozen_at = models.DateTimeField(_("audience frozen at"), null=True, blank=True)
    freeze_report = models.JSONField(_("audience report"), default=dict, blank=True)

    class Meta:
        ordering = ["-starts_on", "-id"]
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_on__gte=F("starts_on")), name="campaign_ends_after_start"
            ),
            models.CheckConstraint(
                condition=Q(holdout_percent__gte=0) & Q(holdout_percent__lte=HOLDOUT_MAX_PERCENT),
                name="campaign_holdout_percent_range",
            ),
        ]
        indexes = [models.Index(fields=["frozen_at"], name="campaign_frozen_idx")]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"

    @property
    def is_frozen(self) -> bool:
        return self.frozen_at is not None


class AudienceMember(models.Model):
    """One fan in a frozen audience: contacted or held out, with the facts that put them there.

    A freeze also writes one `Contact` row (source `campaign`) per member of the `contact` group:
    the ledger, not this table, is what the contact caps count.
    """

    class Group(models.TextChoices):
        CONTACT = "contact", _("contacted")
        HOLDOUT = "holdout", _("hold-out")

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="members")
    # No database-level foreign keys on the fan and the guide: a freeze writes ~100,000 rows in
    # one COPY, and PostgreSQL's per-row FK check takes a FOR KEY SHARE lock on every fan row
    # (measured: 7 s of a 13 s freeze). The ids come from the customers table inside the freeze's
    # own transaction, and Django still cascades deletes (CASCADE / SET_NULL) in the ORM.
    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.CASCADE,
        related_name="campaign_memberships",
        db_constraint=False,
    )
    group = models.CharField(_("group"), max_length=8, choices=Group.choices)
    guide = models.ForeignKey(
        "customers.Staff",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
        help_text=_("The fan's guide when the audience was frozen."),
    )
    # Why the fan matched: the labels the filter saw at freeze time (the filter is on the campaign).
    apple = models.CharField(_("apple"), max_length=8, choices=Apple.choices, blank=True)
    rfm_segment = models.CharField(
        _("RFM segment"), max_length=24, choices=RfmSegment.choices, blank=True
    )

    class Meta:
        verbose_name = _("audience member")
        verbose_name_plural = _("audience members")
        constraints = [
            models.UniqueConstraint(fields=["campaign", "customer"], name="audience_member_unique"),
        ]
        indexes = [
            # The contact cap looks a fan's contacts up; the unique index serves the campaign.
            models.Index(fields=["customer", "group"], name="audience_customer_group_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}/{self.customer_id} {self.group}"


class CheckIn(models.Model):
    """A fan took part in the event (checked in by phone at the event or through the POS)."""

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="check_ins")
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="check_ins"
    )
    checked_in_at = models.DateTimeField(_("checked in at"))
    by = models.ForeignKey(
        "customers.Staff", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    pos_token = models.ForeignKey(
        "customers.PosToken", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["-checked_in_at", "-id"]
        verbose_name = _("check-in")
        verbose_name_plural = _("check-ins")
        constraints = [
            models.UniqueConstraint(fields=["campaign", "customer"], name="check_in_unique")
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}/{self.customer_id}"


class Playbook(TimestampedModel):
    """The suggested action for an RFM segment (seed 001), edited by HQ in the admin.

    Shown on the fan card, and the default message of an event without its own message.
    """

    rfm_segment = models.CharField(
        _("RFM segment"), max_length=24, choices=RfmSegment.choices, unique=True
    )
    action_zh = models.TextField(_("suggested action (中文)"))
    action_en = models.TextField(_("suggested action (English)"), blank=True)
    default_message = models.TextField(
        _("default message"), blank=True, help_text=_("{name} is replaced by the fan's name.")
    )

    class Meta:
        ordering = ["rfm_segment"]
        verbose_name = _("playbook")
        verbose_name_plural = _("playbooks")

    def __str__(self) -> str:
        return self.rfm_segment

    @property
    def action(self) -> str:
        if (get_language() or "zh-hans").startswith("en") and self.action_en:
            return self.action_en
        return self.action_zh


class Contact(models.Model):
    """One contact with a fan (the contact ledger): a completed follow-up, a campaign's message
    from its exported contact list, or a "contacted" recorded on the fan card.

    Every do-not-disturb cap counts these rows (`campaigns.selectors.contacts_within`), so a fan
    is never over-solicited whatever the source. Append-only.
    """

    class Channel(models.TextChoices):
        WECHAT = "wechat", _("WeChat")
        PHONE = "phone", _("phone")
        IN_STORE = "in_store", _("in store")
        OTHER = "other", _("other")

    class Source(models.TextChoices):
        FOLLOW_UP = "follow_up", _("follow-up")
        CAMPAIGN = "campaign", _("campaign")
        MANUAL = "manual", _("recorded by hand")

    # No database-level foreign keys on the fan and the staff: a freeze writes a ledger row per
    # contacted member in one COPY (see AudienceMember); the ORM still cascades.
    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.CASCADE,
        related_name="contacts",
        db_constraint=False,
    )
    staff = models.ForeignKey(
        "customers.Staff",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        db_constraint=False,
    )
    channel = models.CharField(_("channel"), max_length=8, choices=Channel.choices)
    source = models.CharField(_("source"), max_length=10, choices=Source.choices)
    campaign = models.ForeignKey(
        Campaign,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="contacts",
        db_constraint=False,
    )
    contacted_at = models.DateTimeField(_("contacted at"))
    note = models.TextField(_("note"), blank=True)

    class Meta:
        ordering = ["-contacted_at", "-id"]
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        indexes = [
            models.Index(fields=["customer", "contacted_at"], name="contact_customer_at_idx"),
            models.Index(fields=["contacted_at"], name="contact_at_idx"),
            models.Index(fields=["campaign"], name="contact_campaign_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.source} {self.contacted_at:%Y-%m-%d}"
