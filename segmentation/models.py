"""Relabel runs, the per-store labelling date, the per-fan changes runs made and apple quotas.

The fan's computed labels row itself (`customers.CustomerLabels`) belongs to the fan; this app
computes it.
"""

from django.db import models
from django.utils.translation import gettext_lazy as _

from fanops.vocabulary import Apple


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

    # How the inputs were read: every order ("full") or the last run's rows plus the fans whose
    # orders moved ("incremental", segmentation.selectors.touched_fans).
    class Mode(models.TextChoices):
        FULL = "full", _("every order")
        INCREMENTAL = "incremental", _("the orders that moved")

    mode = models.CharField(_("mode"), max_length=12, choices=Mode.choices, blank=True)
    # The largest order id the run read: orders are append-only (a correction is a refund), so
    # the next run recomputes exactly the fans with an order above it, whatever door wrote it.
    order_high_water = models.BigIntegerField(null=True, blank=True)
    # The brand-wide thresholds of this run (rules.Thresholds): the live relabel of a sale
    # classifies against them until the next run.
    thresholds = models.JSONField(_("thresholds"), default=dict, blank=True)
    # A digest of the rules the labels rows were computed by (label rules, remark rules and
    # their settings): an incremental run reads every fan when it differs from the last run's.
    inputs_version = models.CharField(max_length=16, blank=True, editable=False)
    # relabel --full: fans whose stored aggregates differed from their orders (repaired).
    drift = models.JSONField(_("drift"), default=dict, blank=True)
    # The purchase models of this run (segmentation.forecasts): fitted parameters, buyers, the
    # summary's mode and drift, or the error of a failed fit (yesterday's forecasts were kept).
    predictions = models.JSONField(_("predictions"), default=dict, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        verbose_name = _("relabel run")
        verbose_name_plural = _("relabel runs")

    def __str__(self) -> str:
        return f"{self.as_of} {self.status}"


class PurchaseSummary(models.Model):
    """A buyer's purchase days, the input of the purchase models (segmentation.forecasts).

    Purchases are counted per local day, as `lifetimes` does: her sales of one day are one
    purchase of their summed amount. Kept through the last run's high water and moved on each
    night by the orders that arrived (orders are append-only), so the night does not re-read
    every order; `relabel --full` rebuilds it and reports the drift.
    """

    customer = models.OneToOneField(
        "customers.Customer",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="purchase_summary",
        db_constraint=False,  # written in bulk by the job, for fans that exist
    )
    sale_days = models.IntegerField()
    # Local days as day numbers (days since 1970-01-01): the job's arithmetic is in days.
    first_day = models.IntegerField()
    last_day = models.IntegerField()
    first_day_cents = models.BigIntegerField()  # her first purchase day's sales
    sale_cents = models.BigIntegerField()  # all her purchase days' sales

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.sale_days} days {self.first_day}–{self.last_day}"


class LabelChange(models.Model):
    """A fan's apple, segment or stage moved in a run (the guides' worklists read these)."""

    class Group(models.TextChoices):
        APPLE = "apple", _("apple")
        RFM_SEGMENT = "rfm_segment", _("RFM segment")
        R_STAGE = "r_stage", _("R stage")
        FORECAST = "forecast", _("forecast")

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
