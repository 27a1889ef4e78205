"""Stores, staff, fans (customers) and their orders: the data every other app builds on."""

import hashlib
import secrets
from datetime import date

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from fanops.db import TimestampedModel
from fanops.vocabulary import Apple, Forecast, Membership, RfmSegment, Rhythm, RStage


class Store(TimestampedModel):
    code = models.CharField(_("code"), max_length=16, unique=True, help_text=_("e.g. S001"))
    name = models.CharField(_("name"), max_length=100)
    city = models.CharField(_("city"), max_length=50)
    address = models.CharField(_("address"), max_length=200, blank=True)
    latitude = models.DecimalField(
        _("latitude"), max_digits=9, decimal_places=6, null=True, blank=True
    )
    longitude = models.DecimalField(
        _("longitude"), max_digits=9, decimal_places=6, null=True, blank=True
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["code"]
        verbose_name = _("store")
        verbose_name_plural = _("stores")
        constraints = [
            models.CheckConstraint(
                condition=Q(latitude__isnull=True) | Q(latitude__gte=-90, latitude__lte=90),
                name="store_latitude_range",
            ),
            models.CheckConstraint(
                condition=Q(longitude__isnull=True) | Q(longitude__gte=-180, longitude__lte=180),
                name="store_longitude_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class Staff(TimestampedModel):
    """A store employee or an HQ user: the profile on Django's user that decides what they see."""

    class Role(models.TextChoices):
        GUIDE = "guide", _("shopping guide")
        MANAGER = "manager", _("store manager")
        HQ = "hq", _("headquarters")

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="staff"
    )
    store = models.ForeignKey(
        Store,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="staff",
        verbose_name=_("store"),
    )
    role = models.CharField(_("role"), max_length=8, choices=Role.choices)
    work_number = models.CharField(_("work number"), max_length=32, unique=True)
    name = models.CharField(_("name"), max_length=50)
    abbreviation = models.CharField(
        _("abbreviation"),
        max_length=16,
        blank=True,
        help_text=_("Overrides the pinyin initials in remark names."),
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        ordering = ["work_number"]
        verbose_name = _("staff member")
        verbose_name_plural = _("staff")
        constraints = [
            models.CheckConstraint(
                condition=Q(role="hq") | Q(store__isnull=False),
                name="staff_store_required_unless_hq",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.work_number})"

    @property
    def is_hq(self) -> bool:
        return self.role == self.Role.HQ

    @property
    def is_manager(self) -> bool:
        return self.role == self.Role.MANAGER


class Customer(TimestampedModel):
    """A fan: a customer a guide keeps in touch with over WeChat."""

    class Gender(models.TextChoices):
        FEMALE = "f", _("female")
        MALE = "m", _("male")

    class Calendar(models.TextChoices):
        GREGORIAN = "gregorian", _("Gregorian")
        LUNAR = "lunar", _("lunar")

    phone = models.CharField(
        _("phone"), max_length=11, unique=True, help_text=_("11-digit mainland mobile")
    )
    name = models.CharField(_("name"), max_length=50)
    gender = models.CharField(_("gender"), max_length=1, choices=Gender.choices, blank=True)
    store = models.ForeignKey(
        Store, on_delete=models.PROTECT, related_name="customers", verbose_name=_("store")
    )
    guide = models.ForeignKey(
        Staff,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="customers",
        verbose_name=_("guide"),
    )
    # Birthday: calendar empty means unknown; a lunar birthday may be in a leap month.
    birth_calendar = models.CharField(
        _("birthday calendar"), max_length=10, choices=Calendar.choices, blank=True
    )
    birth_year = models.PositiveSmallIntegerField(_("birth year"), null=True, blank=True)
    birth_month = models.PositiveSmallIntegerField(_("birth month"), null=True, blank=True)
    birth_day = models.PositiveSmallIntegerField(_("birth day"), null=True, blank=True)
    birth_is_leap_month = models.BooleanField(_("leap month"), default=False)
    city = models.CharField(_("city"), max_length=50, blank=True)
    latitude = models.DecimalField(
        _("latitude"), max_digits=9, decimal_places=6, null=True, blank=True
    )
    longitude = models.DecimalField(
        _("longitude"), max_digits=9, decimal_places=6, null=True, blank=True
    )
    referrer = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="referrals",
        verbose_name=_("referrer"),
    )
    member_since = models.DateField(_("member since"), null=True, blank=True)
    is_opinion_leader = models.BooleanField(_("opinion leader"), default=False)
    do_not_contact = models.BooleanField(_("do not contact"), default=False)
    # Profile (seed 000: the first five are required for a complete card).
    consumption_notes = models.TextField(_("consumption notes"), blank=True)
    body_shape = models.CharField(_("body shape"), max_length=30, blank=True)
    height_cm = models.PositiveSmallIntegerField(
        _("height (cm)"),
        null=True,
        blank=True,
        validators=[MinValueValidator(50), MaxValueValidator(250)],
    )
    skin_tone = models.CharField(_("skin tone"), max_length=30, blank=True)
    weight_kg = models.DecimalField(
        _("weight (kg)"),
        max_digits=5,
        decimal_places=1,
        null=True,
        blank=True,
        validators=[MinValueValidator(20), MaxValueValidator(300)],
    )
    top_size = models.CharField(_("top size"), max_length=10, blank=True)
    bottom_size = models.CharField(_("bottom size"), max_length=10, blank=True)
    shoe_size = models.CharField(_("shoe size"), max_length=10, blank=True)
    favourite_colours = models.CharField(_("favourite colours"), max_length=100, blank=True)
    notes = models.TextField(_("notes"), blank=True)
    # WeChat: the remark name as last recorded from the guide's WeChat contacts.
    wechat_id = models.CharField(_("WeChat ID"), max_length=64, blank=True)
    wechat_remark = models.CharField(_("WeChat remark"), max_length=64, blank=True)
    wechat_remark_recorded_at = models.DateTimeField(_("remark recorded at"), null=True, blank=True)
    # Fact labels (SPEC §2.4), recomputed on every profile save and by the relabel job.
    zodiac = models.CharField(_("zodiac"), max_length=12, blank=True)
    birthday_month = models.CharField(_("birthday month"), max_length=3, blank=True)
    distance = models.CharField(_("distance"), max_length=12, blank=True)

    class Meta:
        ordering = ["id"]
        verbose_name = _("fan")
        verbose_name_plural = _("fans")
        constraints = [
            models.CheckConstraint(
                condition=Q(phone__regex=r"^1[3-9][0-9]{9}$"), name="customer_phone_mobile"
            ),
            models.CheckConstraint(
                condition=Q(birth_month__isnull=True) | Q(birth_month__gte=1, birth_month__lte=12),
                name="customer_birth_month_range",
            ),
            models.CheckConstraint(
                condition=Q(birth_day__isnull=True) | Q(birth_day__gte=1, birth_day__lte=31),
                name="customer_birth_day_range",
            ),
            models.CheckConstraint(
                condition=Q(height_cm__isnull=True) | Q(height_cm__gte=50, height_cm__lte=250),
                name="customer_height_range",
            ),
        ]
        indexes = [
            # My fans pages and counts by store (and by guide) read these indexes alone.
            models.Index(fields=["store", "id"], name="customer_store_id_idx"),
            models.Index(fields=["store", "guide", "id"], name="customer_store_guide_id_idx"),
            models.Index(
                fields=["store", "birth_calendar", "birth_month", "birth_day"],
                name="customer_birthday_idx",
            ),
            # The nightly follow-ups find the brand's birthdays of a day (the index above is by store).
            models.Index(fields=["birth_month", "birth_day"], name="customer_birth_day_idx"),
            models.Index(fields=["name"], name="customer_name_idx"),
            # The nightly relabel refreshes the fact labels of the fans saved since its last run.
            models.Index(fields=["updated_at"], name="customer_updated_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def phone_masked(self) -> str:
        from customers.phones import mask_phone

        return mask_phone(self.phone)


class Order(TimestampedModel):
    class Kind(models.TextChoices):
        SALE = "sale", _("sale")
        REFUND = "refund", _("refund")

    class PaymentMethod(models.TextChoices):
        CARD = "card", _("card")
        EWALLET = "ewallet", _("e-wallet")
        CASH = "cash", _("cash")
        OTHER = "other", _("other")

    class Channel(models.TextChoices):
        POS = "pos", _("point of sale")
        IMPORT = "import", _("import")
        ONLINE = "online", _("online")

    store = models.ForeignKey(
        Store, on_delete=models.PROTECT, related_name="orders", verbose_name=_("store")
    )
    customer = models.ForeignKey(
        Customer, on_delete=models.PROTECT, related_name="orders", verbose_name=_("fan")
    )
    guide = models.ForeignKey(
        Staff,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="orders",
        verbose_name=_("guide"),
    )
    external_id = models.CharField(
        _("external id"), max_length=64, help_text=_("Set by the POS; unique per store.")
    )
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices, default=Kind.SALE)
    refund_of = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="refunds",
        verbose_name=_("refund of"),
    )
    amount = models.DecimalField(_("amount"), max_digits=12, decimal_places=2)
    paid_at = models.DateTimeField(_("paid at"))
    payment_method = models.CharField(
        _("payment method"),
        max_length=8,
        choices=PaymentMethod.choices,
        default=PaymentMethod.OTHER,
    )
    channel = models.CharField(
        _("channel"), max_length=8, choices=Channel.choices, default=Channel.POS
    )

    class Meta:
        ordering = ["-paid_at", "-id"]
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        constraints = [
            models.UniqueConstraint(
                fields=["store", "external_id"], name="order_external_id_unique_per_store"
            ),
            models.CheckConstraint(
                condition=Q(amount__gte=0) & Q(amount__lte=1_000_000), name="order_amount_range"
            ),
            models.CheckConstraint(
                condition=Q(kind="refund") | Q(refund_of__isnull=True),
                name="order_only_refunds_refer_to_a_sale",
            ),
        ]
        indexes = [
            models.Index(fields=["customer", "paid_at"], name="order_customer_paid_idx"),
            models.Index(fields=["store", "paid_at"], name="order_store_paid_idx"),
            # The nightly run finds the sales that left or entered the window by date.
            models.Index(fields=["paid_at"], name="order_paid_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.store_id}/{self.external_id}"


class OrderItem(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="items")
    sku = models.CharField(_("SKU"), max_length=64)
    name = models.CharField(_("name"), max_length=200, blank=True)
    category = models.CharField(_("category"), max_length=50, blank=True)
    quantity = models.PositiveIntegerField(_("quantity"), validators=[MinValueValidator(1)])
    unit_price = models.DecimalField(_("unit price"), max_digits=12, decimal_places=2)
    is_new_arrival = models.BooleanField(_("new arrival"), default=False)

    class Meta:
        verbose_name = _("order item")
        verbose_name_plural = _("order items")
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gte=1), name="order_item_quantity_positive"
            ),
            models.CheckConstraint(
                condition=Q(unit_price__gte=0), name="order_item_unit_price_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sku} × {self.quantity}"


class PosToken(TimestampedModel):
    """A POS device's credential. Only the SHA-256 of the key is stored; the key is shown once."""

    store = models.ForeignKey(
        Store, on_delete=models.CASCADE, related_name="pos_tokens", verbose_name=_("store")
    )
    name = models.CharField(_("name"), max_length=100)
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    key_prefix = models.CharField(_("key prefix"), max_length=8, editable=False)
    is_active = models.BooleanField(_("active"), default=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)

    class Meta:
        verbose_name = _("POS token")
        verbose_name_plural = _("POS tokens")

    def __str__(self) -> str:
        return f"{self.store_id}: {self.name} ({self.key_prefix}…)"

    @staticmethod
    def hash_key(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    @classmethod
    def issue(cls, *, store: Store, name: str) -> tuple["PosToken", str]:
        """Create a token and return it with the raw key (never stored)."""
        key = "pos_" + secrets.token_urlsafe(32)
        token = cls.objects.create(
            store=store, name=name, key_hash=cls.hash_key(key), key_prefix=key[:8]
        )
        return token, key


class GuideTransfer(models.Model):
    """One fan handed from one guide to another, by whom and when (WeChat Work limits how often)."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="transfers")
    from_guide = models.ForeignKey(Staff, on_delete=models.PROTECT, null=True, related_name="+")
    to_guide = models.ForeignKey(Staff, on_delete=models.PROTECT, related_name="+")
    moved_by = models.ForeignKey(Staff, on_delete=models.PROTECT, related_name="+")
    moved_at = models.DateTimeField(db_index=True)
    from_guide_was_leaving = models.BooleanField(default=False)

    class Meta:
        ordering = ["-moved_at"]
        indexes = [
            models.Index(fields=["customer", "moved_at"], name="transfer_customer_moved_idx")
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.from_guide_id} → {self.to_guide_id}"


class CustomerLabels(models.Model):
    """Every computed label and metric of one fan, as of her store's last relabel.

    One row per fan. Nothing here changes just because a day passed: the date is kept per store
    (`StoreLabelling`) and `recency_days` is derived from it, so the nightly job rewrites only
    the rows whose labels moved (a few percent), with fillfactor 90 to keep those updates HOT.
    Empty strings mean "no label" (a fan with no sale has no segment).
    """

    customer = models.OneToOneField(
        Customer, on_delete=models.CASCADE, primary_key=True, related_name="labels"
    )
    frequency = models.IntegerField(default=0)
    monetary = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    lifetime_sales = models.IntegerField(default=0)
    first_sale = models.DateField(null=True)
    last_sale = models.DateField(null=True)
    # The window's own aggregates (SPEC §3's 365 days): with the metrics above they are every
    # input of the fan's labels, so the nightly run recomputes from orders only the fans whose
    # window or history moved (segmentation.selectors.touched_fans) and reads the rest here.
    window_first_sale = models.DateField(null=True)
    window_sales_cents = models.BigIntegerField(default=0)
    window_refund_cents = models.BigIntegerField(default=0)
    # When a sale recomputed the row between two nightly runs (segmentation.live); the run
    # clears it. Its labels are then as of that day, against the last run's thresholds.
    live_since = models.DateTimeField(_("live since"), null=True, blank=True)
    # The fan's opinion-leader mark as the row was computed with: a nightly run takes it from
    # here for a fan not saved since the last run (her apple's one input outside the orders).
    is_opinion_leader = models.BooleanField(default=False, editable=False)
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
        # The relabel job (segmentation) computes these rows; the table keeps its first name.
        db_table = "segmentation_customerlabels"
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
            store_as_of = self.customer.store.labelling.as_of
        except ObjectDoesNotExist:
            store_as_of = None
        if self.live_since is None:
            return store_as_of
        live_as_of = timezone.localdate(self.live_since)
        return live_as_of if store_as_of is None else max(store_as_of, live_as_of)

    @property
    def recency_days(self) -> int | None:
        """Days from the last sale to `as_of` (SPEC §3); None without a sale."""
        as_of = self.as_of
        if as_of is None or self.last_sale is None:
            return None
        return (as_of - self.last_sale).days


class CustomerPrediction(models.Model):
    """One buyer's purchase forecast as of `model_as_of` (issue 14, docs/predictions.md).

    Written by the relabel job in its switch, all rows at once (every buyer's forecast moves a
    little each day); a night whose fit fails keeps these rows. Fans without a sale have none.
    """

    # No database constraint: the job replaces every row at once (a checked key per row would
    # cost seconds at commit); it writes only fans with sales, and Django still cascades deletes.
    customer = models.OneToOneField(
        Customer,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="prediction",
        db_constraint=False,
    )
    p_alive = models.FloatField(_("probability still a customer"))
    expected_purchases_90d = models.FloatField(_("expected purchases, next 90 days"))
    expected_purchases_365d = models.FloatField(_("expected purchases, next 365 days"))
    expected_spend = models.DecimalField(
        _("expected spend per purchase"), max_digits=12, decimal_places=2
    )
    # Her typical gap between purchase days (none before a second one) and the day after her
    # last purchase that it points to.
    cycle_days = models.IntegerField(_("typical cycle (days)"), null=True, blank=True)
    next_purchase_on = models.DateField(_("next purchase expected"), null=True, blank=True)
    clv_12m = models.DecimalField(_("12-month value"), max_digits=14, decimal_places=2)
    forecast = models.CharField(_("forecast"), max_length=10, choices=Forecast.choices, blank=True)
    model_as_of = models.DateField(_("model as of"))

    class Meta:
        db_table = "segmentation_customerprediction"
        verbose_name = _("purchase forecast")
        verbose_name_plural = _("purchase forecasts")
        indexes = [
            models.Index(fields=["forecast", "customer"], name="prediction_forecast_idx"),
            models.Index(fields=["clv_12m"], name="prediction_clv_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.p_alive:.2f} alive, {self.clv_12m} in 12 months"


class StaffToken(TimestampedModel):
    """A staff member's API key (`POST /api/v1/auth/token/`). Only the SHA-256 of the key is
    stored, the key is answered once; it stops working at `expires_at` (STAFF_TOKEN_DAYS), when
    the user or the staff profile is switched off, and when it is deleted (revoked)."""

    KEY_PREFIX = "stf_"  # never "pos_": PosTokenAuthentication passes every other key on

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="api_tokens",
        verbose_name=_("user"),
    )
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    key_prefix = models.CharField(_("key prefix"), max_length=8, editable=False)
    expires_at = models.DateTimeField(_("expires at"))
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)

    class Meta:
        verbose_name = _("staff API token")
        verbose_name_plural = _("staff API tokens")
        indexes = [models.Index(fields=["user", "expires_at"], name="staff_token_user_expiry_idx")]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.key_prefix}…"

    @staticmethod
    def hash_key(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()
