"""Django admin for computed labels (read-only), relabel runs and per-store apple quotas."""

from django.contrib import admin

from customers.admin import BigListAdmin, ReadOnlyAdmin
from customers.models import CustomerLabels
from segmentation import services
from segmentation.models import AppleQuotaOverride, LabelChange, RelabelRun, StoreLabelling


@admin.register(CustomerLabels)
class CustomerLabelsAdmin(ReadOnlyAdmin):
    list_display = [
        "customer",
        "apple",
        "rfm_segment",
        "r_stage",
        "membership",
        "rhythm",
        "frequency",
        "monetary",
        "lifetime_sales",
        "last_sale",
    ]
    list_filter = ["apple", "rfm_segment", "r_stage", "membership", "rhythm"]
    list_select_related = ["customer"]
    raw_id_fields = ["customer"]
    search_fields = ["=customer__id"]


@admin.register(RelabelRun)
class RelabelRunAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "as_of",
        "status",
        "started_at",
        "finished_at",
        "fans_labelled",
        "rows_written",
        "change_counts",
    ]
    list_filter = ["status"]
    date_hierarchy = "as_of"

    def changelist_view(self, request, extra_context=None):
        services.fail_interrupted_runs()  # a run killed mid-way is not listed `running`
        return super().changelist_view(request, extra_context)


@admin.register(LabelChange)
class LabelChangeAdmin(ReadOnlyAdmin):
    list_display = ["run", "customer", "group", "from_code", "to_code"]
    list_filter = ["group", "to_code"]
    list_select_related = ["run", "customer"]
    raw_id_fields = ["run", "customer"]


@admin.register(AppleQuotaOverride)
class AppleQuotaOverrideAdmin(BigListAdmin):
    list_display = ["store", "apple", "target"]
    list_editable = ["target"]
    list_filter = ["apple", "store"]
    list_select_related = ["store"]
    autocomplete_fields = ["store"]


@admin.register(StoreLabelling)
class StoreLabellingAdmin(ReadOnlyAdmin):
    list_display = ["store", "as_of"]
    list_select_related = ["store"]
