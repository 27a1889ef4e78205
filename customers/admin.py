"""Django admin for HQ: stores, staff, fans, orders, POS tokens, guide transfers.

The admin is one more door: a store, a staff member, a fan or an order written here goes through
the schema of `customers.schemas` and the service of `customers.services` that every other door
uses (`SchemaAdminForm`), so an opinion leader marked here is golden at once, a guide must work at
the fan's store, and switching a staff member (or their user) off ends their tokens and sessions.
Orders are history: they are added (through `record_orders`), never edited.

Lists stay fast on a million fans and ten million orders: related columns come from one join
(`list_select_related`), foreign keys are picked by id or autocomplete (never a <select> of every
fan), the full-table count is skipped and, on PostgreSQL, an unfiltered list shows the planner's
row estimate instead of counting every row.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import QuerySet
from django.forms.utils import ErrorDict
from django.http import HttpRequest
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from customers.models import Customer, GuideTransfer, Order, OrderItem, PosToken, Staff, Store
from customers.phones import normalize_phone
from customers.schemas import (
    BIRTHDAY_FIELDS,
    FanAdminSchema,
    FanRegistrationSchema,
    OrderSchema,
    StaffSchema,
    StoreSchema,
    fan_form_input,
    posted_values,
    validate_input,
)
from customers.services import (
    SYSTEM,
    check_staff,
    conflict_message,
    deactivate_staff,
    record_orders,
    register_customers,
    revoke_credentials,
    save_staff,
    save_store,
    update_customers,
)


class LargeTablePaginator(Paginator):
    """An unfiltered list of a big PostgreSQL table counts from `pg_class.reltuples`."""

    ESTIMATE_ABOVE = 100_000

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if (
            connection.vendor == "postgresql"
            and isinstance(queryset, QuerySet)
            and not queryset.query.where
        ):
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                    [queryset.model._meta.db_table],
                )
                row = cursor.fetchone()
            if row and row[0] > self.ESTIMATE_ABOVE:
                return int(row[0])
        return super().count


class BigListAdmin(admin.ModelAdmin):
    paginator = LargeTablePaginator
    show_full_result_count = False
    list_per_page = 50


class ReadOnlyAdmin(BigListAdmin):
    """History and computed rows: HQ looks, nobody edits by hand."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


def _attr_of(model, pk: Any, attr: str) -> Any:
    """The `attr` of the row a select or raw-id widget posted (its pk); None when empty. A pk
    that is no number is passed on as it is, for the schema or service to refuse."""
    if pk in (None, ""):
        return None
    if not str(pk).isdigit():
        return str(pk)
    return model.objects.filter(pk=pk).values_list(attr, flat=True).first() or str(pk)


class SchemaAdminForm(forms.ModelForm):
    """An admin form whose fields only render and read the input: the thing's schema checks it
    and the door's service writes it, as for every other door.

    The admin shows errors next to the fields only while it validates the form, so `write`
    (the service) runs then, inside the admin's transaction; `ModelAdmin.save_model` only takes
    the written object (`saved`). Forms with inlines must not write here (see `StaffInlineForm`).
    """

    error_fields: dict[str, str] = {}  # a schema's or service's key → the form field showing it

    def schema_input(self, raw: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    def schema(self):
        raise NotImplementedError

    def write(self, validated: Any) -> ValidationError | None:
        """Write through the service; the error of a refused write."""
        raise NotImplementedError

    def full_clean(self) -> None:
        self._errors = ErrorDict()
        self.cleaned_data = {}
        self.saved = None
        if not self.is_bound or (self.empty_permitted and not self.has_changed()):
            return
        raw = posted_values(self)
        self.cleaned_data = dict(raw)
        try:
            error = self.write(validate_input(self.schema(), self.schema_input(raw)))
        except ValidationError as exc:
            error = exc
        if error is not None:
            self.add_schema_errors(error)

    def add_schema_errors(self, error: ValidationError) -> None:
        for key, field_messages in error.message_dict.items():
            name = self.error_fields.get(key, key)
            if name not in self.fields or name == NON_FIELD_ERRORS:
                name = None
            for message in field_messages:
                self.add_error(name, message)


def _text(raw: dict[str, Any], *names: str) -> dict[str, Any]:
    return {name: raw[name] or "" for name in names if name in raw}


class StoreAdminForm(SchemaAdminForm):
    class Meta:
        model = Store
        fields = ["code", "name", "city", "address", "latitude", "longitude", "is_active"]

    def schema(self):
        return StoreSchema()

    def schema_input(self, raw: dict[str, Any]) -> dict[str, Any]:
        data = _text(raw, "code", "name", "city", "address")
        data.update(latitude=raw["latitude"] or None, longitude=raw["longitude"] or None)
        data["is_active"] = bool(raw["is_active"])
        return data

    def write(self, store_in) -> ValidationError | None:
        try:
            self.saved, _outcome = save_store(
                store_in=store_in, store=self.instance if self.instance.pk else None
            )
        except ValidationError as exc:
            return exc
        return None


class SavedBySchemaForm:
    """`save_model` of a `SchemaAdminForm`: the form wrote through the service; take its row."""

    def save_model(self, request, obj, form, change) -> None:
        obj.__dict__.update(form.saved.__dict__)


@admin.register(Store)
class StoreAdmin(SavedBySchemaForm, admin.ModelAdmin):
    form = StoreAdminForm
    list_display = ["code", "name", "city", "address", "latitude", "longitude", "is_active"]
    list_filter = ["is_active", "city"]
    search_fields = ["code", "name", "city"]
    ordering = ["code"]


def _staff_input(form: forms.ModelForm, raw: dict[str, Any], username: str) -> dict[str, Any]:
    data = _text(raw, "name", "role", "work_number", "abbreviation")
    data["username"] = username
    data["store"] = _attr_of(Store, raw.get("store"), "code") or ""
    if "is_active" in raw:
        data["is_active"] = bool(raw["is_active"])
    return data


class StaffAdminForm(SchemaAdminForm):
    class Meta:
        model = Staff
        fields = ["user", "name", "role", "store", "work_number", "abbreviation", "is_active"]

    def schema(self):
        return StaffSchema()

    def schema_input(self, raw: dict[str, Any]) -> dict[str, Any]:
        if "user" in raw:
            username = _attr_of(get_user_model(), raw["user"], "username") or ""
        else:  # the user of a profile is fixed once made
            username = self.instance.user.username
        return _staff_input(self, raw, username)

    def write(self, staff_in) -> ValidationError | None:
        try:
            self.saved = save_staff(staff_in=staff_in, password=secrets.token_urlsafe(12)).staff
        except ValidationError as exc:
            return exc
        return None


class StaffInlineForm(SchemaAdminForm):
    """The profile under a user: checked like any staff member; written (`save_staff`) by
    `FanOpsUserAdmin.save_formset`, once the user is saved."""

    class Meta:
        model = Staff
        fields = ["name", "role", "store", "work_number", "abbreviation", "is_active"]

    def schema(self):
        return StaffSchema()

    def schema_input(self, raw: dict[str, Any]) -> dict[str, Any]:
        return _staff_input(self, raw, self.instance.user.username)

    def write(self, staff_in) -> ValidationError | None:
        self.staff_in = staff_in
        return check_staff(staff_in)


class StaffInline(admin.StackedInline):
    model = Staff
    form = StaffInlineForm
    fk_name = "user"
    can_delete = False
    autocomplete_fields = ["store"]
    verbose_name_plural = _("staff profile")


User = get_user_model()
if admin.site.is_registered(User):
    admin.site.unregister(User)


@admin.register(User)
class FanOpsUserAdmin(UserAdmin):
    inlines = [StaffInline]
    list_display = [
        "username",
        "staff_name",
        "staff_role",
        "staff_store",
        "is_active",
        "is_staff",
        "last_login",
    ]
    list_select_related = ["staff", "staff__store"]
    list_filter = ["staff__role", "is_active", "is_staff", "is_superuser"]
    search_fields = ["username", "staff__name", "staff__work_number"]

    @admin.display(description=_("name"))
    def staff_name(self, user) -> str:
        return getattr(getattr(user, "staff", None), "name", "")

    @admin.display(description=_("role"))
    def staff_role(self, user) -> str:
        staff = getattr(user, "staff", None)
        return staff.get_role_display() if staff else ""

    @admin.display(description=_("store"))
    def staff_store(self, user) -> str:
        staff = getattr(user, "staff", None)
        return staff.store.code if staff and staff.store else ""

    def save_model(self, request, obj, form, change) -> None:
        """A user switched off leaves like a staff member: tokens and sessions end at once."""
        super().save_model(request, obj, form, change)
        if change and "is_active" in form.changed_data and not obj.is_active:
            staff = Staff.objects.filter(user=obj, is_active=True).first()
            if staff is not None:
                deactivate_staff(staff=staff, by=None)
            else:
                revoke_credentials(obj)

    def save_formset(self, request, form, formset, change) -> None:
        if formset.model is not Staff:
            return super().save_formset(request, form, formset, change)
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for inline in formset.forms:
            if getattr(inline, "staff_in", None) is not None and inline.has_changed():
                # The user exists by now: the password is never used.
                result = save_staff(staff_in=inline.staff_in, password=secrets.token_urlsafe(12))
                if result.outcome == "created":
                    formset.new_objects.append(result.staff)
                elif result.outcome == "updated":
                    formset.changed_objects.append((result.staff, inline.changed_data))
        return None


@admin.register(Staff)
class StaffAdmin(SavedBySchemaForm, admin.ModelAdmin):
    form = StaffAdminForm
    list_display = ["work_number", "name", "role", "store", "user", "abbreviation", "is_active"]
    list_filter = ["role", "is_active", "store"]
    list_select_related = ["store", "user"]
    search_fields = ["work_number", "name", "user__username"]
    autocomplete_fields = ["store"]
    raw_id_fields = ["user"]

    def get_readonly_fields(self, request, obj=None):
        return ["user"] if obj is not None else []


class GuideFilter(admin.SimpleListFilter):
    title = _("guide")
    parameter_name = "guide"

    def lookups(self, request, model_admin):
        guides = Staff.objects.filter(role=Staff.Role.GUIDE).select_related("store")
        return [
            (g.pk, f"{g.store.code if g.store else ''} {g.name} ({g.work_number})") for g in guides
        ]

    def queryset(self, request, queryset):
        return queryset.filter(guide_id=self.value()) if self.value() else queryset


class CustomerAdminForm(SchemaAdminForm):
    TEXTS = (
        "phone", "name", "gender", "city", "body_shape", "skin_tone", "consumption_notes",
        "top_size", "bottom_size", "shoe_size", "favourite_colours", "notes", "wechat_id",
        "wechat_remark",
    )  # fmt: skip
    NUMBERS = ("latitude", "longitude", "member_since", "height_cm", "weight_kg")
    error_fields = {"birthday": "birth_calendar", "referrer_phone": "referrer"}

    class Meta:
        model = Customer
        fields = [
            "phone", "name", "gender", "store", "guide", "referrer", "member_since",
            *BIRTHDAY_FIELDS, "city", "latitude", "longitude", "is_opinion_leader",
            "do_not_contact", "body_shape", "height_cm", "skin_tone", "consumption_notes",
            "weight_kg", "top_size", "bottom_size", "shoe_size", "favourite_colours", "notes",
            "wechat_id", "wechat_remark",
        ]  # fmt: skip

    def schema(self):
        return FanAdminSchema(partial=True) if self.instance.pk else FanRegistrationSchema()

    def schema_input(self, raw: dict[str, Any]) -> dict[str, Any]:
        flags = ("is_opinion_leader", "do_not_contact")
        data = fan_form_input(raw, texts=self.TEXTS, numbers=self.NUMBERS, flags=flags)
        data["store"] = _attr_of(Store, raw.get("store"), "code") or ""
        data["guide"] = _attr_of(Staff, raw.get("guide"), "work_number")
        referrer = raw.get("referrer")
        data["referrer"] = int(referrer) if str(referrer or "").isdigit() else referrer or None
        return data

    def write(self, fan) -> ValidationError | None:
        if self.instance.pk:
            [result] = update_customers(changes=[(self.instance, fan)], actor=SYSTEM)
            self.saved = self.instance
        else:
            [result] = register_customers(fans=[fan], actor=SYSTEM)
            if result.existing is not None:
                return ValidationError(
                    {"phone": [_("A fan with this phone is already registered.")]}
                )
            if result.error is None:
                self.saved = Customer.objects.get(pk=result.customer_id)
        return result.error


@admin.register(Customer)
class CustomerAdmin(SavedBySchemaForm, BigListAdmin):
    form = CustomerAdminForm
    list_display = [
        "id",
        "name",
        "phone_masked",
        "store",
        "guide",
        "apple",
        "is_opinion_leader",
        "do_not_contact",
        "member_since",
        "distance",
    ]
    list_select_related = ["store", "guide", "labels"]
    list_filter = ["store", GuideFilter, "is_opinion_leader", "do_not_contact", "birth_calendar"]
    search_fields = ["name"]
    search_help_text = _("A name, the last digits of the phone, or the whole phone number.")
    autocomplete_fields = ["store", "guide"]
    raw_id_fields = ["referrer"]
    readonly_fields = [
        "wechat_remark_recorded_at", "zodiac", "birthday_month", "distance", "created_at",
        "updated_at",
    ]  # fmt: skip
    ordering = ["-id"]
    fieldsets = [
        (
            None,
            {"fields": ["phone", "name", "gender", "store", "guide", "referrer", "member_since"]},
        ),
        (
            _("Birthday"),
            {
                "fields": [
                    "birth_calendar",
                    "birth_year",
                    "birth_month",
                    "birth_day",
                    "birth_is_leap_month",
                ]
            },
        ),
        (_("Home"), {"fields": ["city", "latitude", "longitude"]}),
        (_("Flags"), {"fields": ["is_opinion_leader", "do_not_contact"]}),
        (
            _("Profile"),
            {
                "fields": [
                    "body_shape",
                    "height_cm",
                    "skin_tone",
                    "consumption_notes",
                    "weight_kg",
                    "top_size",
                    "bottom_size",
                    "shoe_size",
                    "favourite_colours",
                    "notes",
                ]
            },
        ),
        (_("WeChat"), {"fields": ["wechat_id", "wechat_remark", "wechat_remark_recorded_at"]}),
        (
            _("Fact labels"),
            {"fields": ["zodiac", "birthday_month", "distance", "created_at", "updated_at"]},
        ),
    ]

    @admin.display(description=_("phone"))
    def phone_masked(self, customer: Customer) -> str:
        return customer.phone_masked

    @admin.display(description=_("apple"))
    def apple(self, customer: Customer) -> str:
        labels = getattr(customer, "labels", None)
        return labels.get_apple_display() if labels else "–"

    def get_search_results(self, request, queryset, search_term):
        term = search_term.replace(" ", "").replace("-", "")
        if term.isdigit() or term.startswith("+"):
            digits = term.lstrip("+")
            if len(digits) >= 11:
                try:
                    return queryset.filter(phone=normalize_phone(search_term)), False
                except ValidationError:
                    return queryset.none(), False
            return queryset.filter(phone__endswith=digits), False
        return super().get_search_results(request, queryset, search_term)


class OrderItemInline(admin.TabularInline):
    model = OrderItem
    extra = 0

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class OrderAddForm(SchemaAdminForm):
    """A sale or refund entered at HQ: the order schema and `record_orders`, as from a POS."""

    phone = forms.CharField(label=_("phone"), help_text=_("The fan's; a new phone registers her."))
    name = forms.CharField(label=_("name"), required=False)
    error_fields = {"customer": "phone", "customer.phone": "phone", "customer.name": "name"}

    class Meta:
        model = Order
        fields = ["store", "external_id", "guide", "paid_at", "amount", "kind", "refund_of",
                  "payment_method"]  # fmt: skip

    def schema(self):
        return OrderSchema(context={"now": timezone.now()})

    def schema_input(self, raw: dict[str, Any]) -> dict[str, Any]:
        data = _text(raw, "external_id", "amount", "kind", "payment_method")
        data["store"] = _attr_of(Store, raw["store"], "code") or ""
        data["guide"] = _attr_of(Staff, raw["guide"], "work_number") or ""
        data["refund_of"] = _attr_of(Order, raw["refund_of"], "external_id") or ""
        data["customer"] = {"phone": raw["phone"] or "", "name": raw["name"] or ""}
        data["paid_at"] = _local_time(raw["paid_at"])
        return data

    def write(self, order_in) -> ValidationError | None:
        [result] = record_orders(orders=[order_in], actor=SYSTEM)
        if result.conflict is not None:
            return ValidationError({"external_id": [conflict_message()]})
        if result.error is None:
            self.saved = Order.objects.get(pk=result.order_id)
        return result.error


def _local_time(value: Any) -> str:
    """The admin's split date and time (local, as HQ reads a receipt) as ISO 8601 with offset."""
    if isinstance(value, list | tuple):
        value = "T".join(part or "" for part in value)
    try:
        moment = datetime.fromisoformat(str(value or ""))
    except ValueError:
        return str(value or "")
    if isinstance(moment, datetime) and moment.tzinfo is None:
        moment = timezone.make_aware(moment)
    return moment.isoformat()


@admin.register(Order)
class OrderAdmin(SavedBySchemaForm, BigListAdmin):
    list_display = [
        "external_id",
        "store",
        "customer",
        "kind",
        "amount",
        "paid_at",
        "payment_method",
        "channel",
        "guide",
    ]
    list_select_related = ["store", "customer", "guide"]
    list_filter = ["kind", "store", "payment_method", "channel"]
    search_fields = ["=external_id"]
    search_help_text = _("The exact external id (the POS receipt number).")
    raw_id_fields = ["customer", "refund_of", "guide"]
    autocomplete_fields = ["store"]
    readonly_fields = ["created_at", "updated_at"]
    inlines = [OrderItemInline]
    add_fields = ["store", "external_id", "phone", "name", "guide", "paid_at", "amount", "kind",
                  "refund_of", "payment_method"]  # fmt: skip
    # Newest first by id (the primary key index): the model's (-paid_at, -id) has no index of its
    # own and would sort every order for one page (30 s on ten million).
    ordering = ["-id"]

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # history: a correction is a refund

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False  # append-only: the nightly run trusts every order below its high water

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = OrderAddForm
        return super().get_form(request, obj, **kwargs)

    def get_fields(self, request, obj=None):
        return self.add_fields if obj is None else super().get_fields(request, obj)

    def get_inlines(self, request, obj):
        return [] if obj is None else self.inlines


@admin.register(PosToken)
class PosTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "store", "key_prefix", "is_active", "last_used_at", "created_at"]
    list_filter = ["is_active", "store"]
    list_select_related = ["store"]
    search_fields = ["name", "store__code", "key_prefix"]
    autocomplete_fields = ["store"]
    readonly_fields = ["key_prefix", "last_used_at", "created_at"]
    fields = ["store", "name", "is_active", "key_prefix", "last_used_at", "created_at"]
    actions = ["revoke"]

    @admin.action(description=_("Revoke the selected tokens"))
    def revoke(self, request: HttpRequest, queryset) -> None:
        count = queryset.update(is_active=False)
        self.message_user(request, _("%(count)d token(s) revoked.") % {"count": count})

    def save_model(self, request, obj: PosToken, form, change) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        token, key = PosToken.issue(store=obj.store, name=obj.name)
        obj.pk, obj.key_hash, obj.key_prefix = token.pk, token.key_hash, token.key_prefix
        self.message_user(
            request,
            _("The token's key, shown only this once: %(key)s") % {"key": key},
            level=messages.WARNING,
        )


@admin.register(GuideTransfer)
class GuideTransferAdmin(ReadOnlyAdmin):
    list_display = [
        "moved_at",
        "customer",
        "from_guide",
        "to_guide",
        "moved_by",
        "from_guide_was_leaving",
    ]
    list_select_related = ["customer", "from_guide", "to_guide", "moved_by"]
    list_filter = ["from_guide_was_leaving"]
    raw_id_fields = ["customer", "from_guide", "to_guide", "moved_by"]
