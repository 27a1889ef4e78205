"""Django admin for HQ: stores, staff, fans, orders, POS tokens, guide transfers.

Lists stay fast on a million fans and ten million orders: related columns come from one join
(`list_select_related`), foreign keys are picked by id or autocomplete (never a <select> of every
fan), the full-table count is skipped and, on PostgreSQL, an unfiltered list shows the planner's
row estimate instead of counting every row.
"""

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import UserAdmin
from django.core.paginator import Paginator
from django.db import connection
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

from customers.models import Customer, GuideTransfer, Order, OrderItem, PosToken, Staff, Store


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


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "city", "address", "latitude", "longitude", "is_active"]
    list_filter = ["is_active", "city"]
    search_fields = ["code", "name", "city"]
    ordering = ["code"]


class StaffInline(admin.StackedInline):
    model = Staff
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


@admin.register(Staff)
class StaffAdmin(admin.ModelAdmin):
    list_display = ["work_number", "name", "role", "store", "user", "abbreviation", "is_active"]
    list_filter = ["role", "is_active", "store"]
    list_select_related = ["store", "user"]
    search_fields = ["work_number", "name", "user__username"]
    autocomplete_fields = ["store"]
    raw_id_fields = ["user"]


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


@admin.register(Customer)
class CustomerAdmin(BigListAdmin):
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
    readonly_fields = ["zodiac", "birthday_month", "distance", "created_at", "updated_at"]
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
                from django.core.exceptions import ValidationError

                from customers.phones import normalize_phone

                try:
                    return queryset.filter(phone=normalize_phone(search_term)), False
                except ValidationError:
                    return queryset.none(), False
            return queryset.filter(phone__endswith=digits), False
        return super().get_search_results(request, queryset, search_term)

    def save_model(self, request, obj: Customer, form, change) -> None:
        # Fact labels follow the profile, as they do when a guide edits it.
        try:
            from customers.facts import fact_labels_for
        except ImportError:
            pass
        else:
            for name, value in fact_labels_for(obj).items():
                setattr(obj, name, value)
        super().save_model(request, obj, form, change)


class OrderItemInline(admin.TabularInline):
    model = OrderItem
    extra = 0


@admin.register(Order)
class OrderAdmin(BigListAdmin):
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
    # Newest first by id (the primary key index): the model's (-paid_at, -id) has no index of its
    # own and would sort every order for one page (30 s on ten million).
    ordering = ["-id"]


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
