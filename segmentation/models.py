"""Computed labels (one row per fan), relabel runs and the per-fan changes they made."""

from datetime import date

from django.core.exceptions import ObjectDoesNotExist
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


class CustomerLabels(models.Model):
    """Every computed label and metric of one fan, as of her store's last relabel.

    One row per fan. Nothing here changes just because a day passed: the date is kept per store
    (`StoreLabelling`) and `recency_days` is derived from it, so the nightly job rewrites only
    the rows whose labels moved (a few percent), with fillfactor 90 to keep those updates HOT.
    Empty strings mean "no label" (a fan with no sale has no segment).
    """

    customer = models.OneToOneField(
        "customers.Customer", on_delete=models.CASCADE, primary_key=True, related_name="labels"
    )
    frequency = models.IntegerField(default=0)
    monetary = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    lifetime_sales = models.IntegerField(default=0)
    first_sale = models.DateField(null=True)
    last_sale = models.DateField(null=True)
    apple = models.CharField(_("apple"), max_length=8, choices=Apple.choices, default=Apple.BLOSSOM)
    rfm_segment = models.CharField(
        _("RFM segment"), max_length=24, choices=RfmSegment.choices, blank=True
    )
    r_stage = models.CharField(_("R stage"), max_length=10, choices=RStage.choices, blank=True)
    membership = models.CharField(
        _("membership"), max_length=12, choices=Membership.choices, blank=True
    )
    rhythm = models.CharField(_("rhythm"), max_length=12, choices=Rhythm.choices, blank=True)
    remark_store_account = models.CharField(max_length=64, blank=True)
    remark_personal_account = models.CharField(max_length=64, blank=True)
    # 64-bit hash of everything the two remark names were built from (relabel recomputes a
    # fan's remark names only when it changes: about 10 µs per fan saved nightly).
    remark_key = models.BigIntegerField(null=True, blank=True, editable=False)
    # 64-bit hash of the values above as the relabel job last wrote them: the job rewrites a row
    # only when its new values hash differently. Any other write clears it (`save`).
    labels_key = models.BigIntegerField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("computed labels")
        verbose_name_plural = _("computed labels")
        # (label, fan): filters read them index-only and join by fan (tag filters, My fans).
        # Few, because every label change of a fan updates each of them.
        indexes = [
            models.Index(fields=["apple", "customer"], name="labels_apple_idx"),
            models.Index(fields=["rfm_segment", "customer"], name="labels_segment_idx"),
            models.Index(fields=["r_stage", "customer"], name="labels_stage_idx"),
            models.Index(fields=["membership"], name="labels_membership_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.apple}/{self.rfm_segment}/{self.r_stage}"

    def save(self, *args, **kwargs) -> None:
        """A row changed outside the relabel job no longer matches its `labels_key`: clear it,
        so the next run rewrites the row instead of trusting the key."""
        self.labels_key = None
        if kwargs.get("update_fields") is not None:
            kwargs["update_fields"] = {*kwargs["update_fields"], "labels_key"}
        super().save(*args, **kwargs)

    @property
    def as_of(self) -> date | None:
        """The as_of of the run that last labelled the fan's store (None before the first).

        Reads `customer.store.labelling`: select it with the row (from a fan:
        `select_related("labels", "store__labelling")`).
        """
        try:
            return self.customer.store.labelling.as_of
        except ObjectDoesNotExist:
            return None

    @property
    def recency_days(self) -> int | None:
        """Days from the last sale to `as_of` (SPEC §3); None without a sale."""
        as_of = self.as_of
        if as_of is None or self.last_sale is None:
            return None
        return (as_of - self.last_sale).days


class StoreLabelling(models.Model):
    """The as_of of the computed labels of one store's fans: the last run that switched them in.

    Kept per store rather than per fan, so that a new day alone changes no labels row.
    """

    store = models.OneToOneField(
        "customers.Store", on_delete=models.CASCADE, primary_key=True, related_name="labelling"
    )
    as_of = models.DateField(_("labels as of"))

    class Meta:
        verbose_name = _("store labelling")
        verbose_name_plural = _("store labelling")

    def __str__(self) -> str:
        return f"{self.store_id}: {self.as_of}"


class RelabelRun(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", _("queued")
        RUNNING = "running", _("running")
        SUCCEEDED = "succeeded", _("succeeded")
        FAILED = "failed", _("failed")
        SKIPPED = "skipped", _("skipped")

    as_of = models.DateField(_("as of"))
    started_at = models.DateTimeField(_("started"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=Status.choices, default=Status.RUNNING
    )
    fans_labelled = models.IntegerField(_("fans labelled"), default=0)
    rows_written = models.IntegerField(_("labels rows written"), default=0)
    change_counts = models.JSONField(_("changes per label"), default=dict, blank=True)
    label_counts = models.JSONField(_("fans per label"), default=dict, blank=True)
    timings = models.JSONField(_("seconds per phase"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = _("relabel run")
        verbose_name_plural = _("relabel runs")

    def __str__(self) -> str:
        return f"{self.as_of} {self.status}"


class LabelChange(models.Model):
    """A fan's apple, segment or stage moved in a run (the guides' worklists read these)."""

    class Group(models.TextChoices):
        APPLE = "apple", _("apple")
        RFM_SEGMENT = "rfm_segment", _("RFM segment")
        R_STAGE = "r_stage", _("R stage")

    # No database constraints: the relabel switch writes tens of thousands of these at once, and
    # each checked key would lock its fan's row (≈ 0.4 s at 30,000 changes). The switch inserts
    # only fans that exist, for its own run; Django still cascades deletes.
    run = models.ForeignKey(
        RelabelRun, on_delete=models.CASCADE, related_name="changes", db_constraint=False
    )
    customer = models.ForeignKey(
        "customers.Customer",
        on_delete=models.CASCADE,
        related_name="label_changes",
        db_constraint=False,
    )
    group = models.CharField(max_length=12, choices=Group.choices)
    from_code = models.CharField(max_length=24, blank=True)
    to_code = models.CharField(max_length=24, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["customer", "run"], name="label_change_customer_idx"),
            models.Index(fields=["run", "group", "to_code"], name="label_change_run_group_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.group}: {self.from_code} → {self.to_code}"


class AppleQuotaOverride(models.Model):
    """A store's own target for one apple tier, replacing the brand default (SPEC §2.1)."""

    store = models.ForeignKey(
        "customers.Store", on_delete=models.CASCADE, related_name="apple_quota_overrides"
    )
    apple = models.CharField(_("apple"), max_length=8, choices=Apple.choices)
    target = models.PositiveIntegerField(_("target"))

    class Meta:
        verbose_name = _("apple quota override")
        verbose_name_plural = _("apple quota overrides")
        constraints = [
            models.UniqueConstraint(fields=["store", "apple"], name="apple_quota_unique_per_store")
        ]

    def __str__(self) -> str:
        return f"{self.store_id} {self.apple}: {self.target}"
