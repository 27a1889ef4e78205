"""Follow-ups (跟进任务): what a guide should do next for a fan, whether she did it, and what it
earned. The rules that generate them are in docs/follow-ups.md; HQ tunes them per reason."""

from django.core.validators import MaxValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from fanops.db import TimestampedModel


class Reason(models.TextChoices):
    AFTER_SALE_CARE = "after_sale_care", _("after-sale care")
    REPURCHASE_NUDGE = "repurchase_nudge", _("repurchase nudge")
    BIRTHDAY = "birthday", _("birthday")
    STAGE_DROP = "stage_drop", _("stage drop")
    APPLE_UPGRADE = "apple_upgrade", _("apple upgrade")
    REMARK_UPDATE = "remark_update", _("remark update")
    DUE_SOON = "due_soon", _("due soon")


class FollowUpRule(TimestampedModel):
    """HQ's switch, days and message for one reason (one row per reason, seeded)."""

    reason = models.CharField(_("reason"), max_length=20, choices=Reason.choices, unique=True)
    is_enabled = models.BooleanField(_("enabled"), default=True)
    days = models.PositiveSmallIntegerField(
        _("days"),
        validators=[MaxValueValidator(365)],
        help_text=_(
            "after-sale care: days after the sale; repurchase nudge: the gap assumed for single "
            "buyers; birthday: days before; the others: days from the label change to the due date."
        ),
    )
    generated_through = models.DateField(
        _("generated through"),
        null=True,
        blank=True,
        editable=False,
        help_text=_("The last day follow-ups of this reason were generated for."),
    )
    message_template = models.TextField(
        _("message"),
        blank=True,
        help_text=_("{name} is replaced by the fan's name; empty: her segment's playbook message."),
    )

    class Meta:
        ordering = ["reason"]
        verbose_name = _("follow-up rule")
        verbose_name_plural = _("follow-up rules")

    def __str__(self) -> str:
        return self.reason


class FollowUp(TimestampedModel):
    """One thing to do for one fan, by her guide, by a date.

    `occasion` names what caused it (the sale day, the birthday, the night's run, the remark):
    (fan, reason, occasion) is unique, so generating again for the same day creates nothing,
    and at most one follow-up per fan and reason is open (or snoozed) at a time. A hold-out
    follow-up is recorded but never shown to staff below HQ (its fans measure the lift).
    """

    class Status(models.TextChoices):
        OPEN = "open", _("open")
        DONE = "done", _("done")
        SNOOZED = "snoozed", _("snoozed")
        SKIPPED = "skipped", _("skipped")
        EXPIRED = "expired", _("expired")

    PENDING = (Status.OPEN, Status.SNOOZED)

    # No single-column indexes on the fan, guide and store: the unique (customer, reason,
    # occasion) and the (guide|store, status, due_on) indexes lead with them, and every index
    # costs the nightly INSERT and expiry a write per row.
    customer = models.ForeignKey(
        "customers.Customer", on_delete=models.CASCADE, related_name="follow_ups", db_index=False
    )
    guide = models.ForeignKey(
        "customers.Staff",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="follow_ups",
        db_index=False,
        help_text=_("The fan's guide when it was created."),
    )
    store = models.ForeignKey(
        "customers.Store", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    reason = models.CharField(_("reason"), max_length=20, choices=Reason.choices)
    occasion = models.CharField(_("occasion"), max_length=64)
    due_on = models.DateField(_("due on"))
    status = models.CharField(
        _("status"), max_length=8, choices=Status.choices, default=Status.OPEN
    )
    snoozed_until = models.DateField(_("snoozed until"), null=True, blank=True)
    skip_reason = models.CharField(_("why skipped"), max_length=200, blank=True)
    message = models.TextField(_("suggested message"), blank=True)
    is_holdout = models.BooleanField(_("hold-out"), default=False)
    completed_at = models.DateTimeField(_("done at"), null=True, blank=True)
    completed_by = models.ForeignKey(
        "customers.Staff", on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    channel = models.CharField(_("channel"), max_length=8, blank=True)
    reached = models.BooleanField(_("reached"), null=True, blank=True)
    note = models.TextField(_("note"), blank=True)
    contact = models.OneToOneField(
        "campaigns.Contact",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="follow_up",
    )

    class Meta:
        ordering = ["due_on", "id"]
        verbose_name = _("follow-up")
        verbose_name_plural = _("follow-ups")
        constraints = [
            models.UniqueConstraint(
                fields=["customer", "reason", "occasion"], name="follow_up_occasion_unique"
            ),
            models.UniqueConstraint(
                fields=["customer", "reason"],
                condition=Q(status__in=["open", "snoozed"]),
                name="follow_up_one_pending",
            ),
            models.CheckConstraint(
                condition=~Q(status="done") | Q(completed_at__isnull=False),
                name="follow_up_done_has_time",
            ),
            models.CheckConstraint(
                condition=~Q(status="snoozed") | Q(snoozed_until__isnull=False),
                name="follow_up_snoozed_has_date",
            ),
        ]
        indexes = [
            models.Index(fields=["guide", "status", "due_on"], name="follow_up_guide_idx"),
            models.Index(fields=["store", "status", "due_on"], name="follow_up_store_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.reason} {self.due_on}"
