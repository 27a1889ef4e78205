from django.contrib import admin

from campaigns.models import AudienceMember, Campaign, CheckIn, Contact, Playbook


@admin.register(Playbook)
class PlaybookAdmin(admin.ModelAdmin):
    list_display = ["rfm_segment", "action_zh", "default_message"]
    search_fields = ["rfm_segment", "action_zh", "action_en"]


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "kind", "starts_on", "ends_on", "holdout_percent", "frozen_at"]
    list_filter = ["kind"]
    search_fields = ["code", "name"]
    filter_horizontal = ["stores"]
    readonly_fields = ["frozen_at", "freeze_report", "audience_filter", "created_by"]


@admin.register(AudienceMember)
class AudienceMemberAdmin(admin.ModelAdmin):
    list_display = ["campaign", "customer", "group", "guide", "apple", "rfm_segment"]
    list_filter = ["group"]
    raw_id_fields = ["campaign", "customer", "guide"]
    list_select_related = ["campaign", "customer", "guide"]


@admin.register(CheckIn)
class CheckInAdmin(admin.ModelAdmin):
    list_display = ["campaign", "customer", "checked_in_at", "by"]
    raw_id_fields = ["campaign", "customer", "by", "pos_token"]
    list_select_related = ["campaign", "customer", "by"]


@admin.register(Contact)
class ContactAdmin(admin.ModelAdmin):
    """The contact ledger is append-only: read here, written by the services."""

    list_display = ["contacted_at", "customer", "source", "channel", "staff", "campaign"]
    list_filter = ["source", "channel"]
    raw_id_fields = ["customer", "staff", "campaign"]
    list_select_related = ["customer", "staff", "campaign"]
    date_hierarchy = "contacted_at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
