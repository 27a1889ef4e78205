"""HQ's switches for follow-ups: each reason on or off, its days and message; the follow-ups
themselves are read here and changed only through the services (Today, the API)."""

from django.contrib import admin

from followups.models import FollowUp, FollowUpRule


@admin.register(FollowUpRule)
class FollowUpRuleAdmin(admin.ModelAdmin):
    list_display = ["reason", "is_enabled", "days", "message_template", "generated_through"]
    list_editable = ["is_enabled", "days"]
    readonly_fields = ["reason", "generated_through"]

    def has_add_permission(self, request) -> bool:  # one row per reason, seeded
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(FollowUp)
class FollowUpAdmin(admin.ModelAdmin):
    list_display = ["due_on", "reason", "customer", "guide", "store", "status", "is_holdout"]
    list_filter = ["reason", "status", "is_holdout", "store"]
    raw_id_fields = ["customer", "guide", "completed_by", "contact"]
    list_select_related = ["customer", "guide", "store"]
    date_hierarchy = "due_on"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
