"""Django admin for the tag taxonomy (HQ defines groups and tags) and who carries which tag."""

from django.contrib import admin

from customers.admin import BigListAdmin, ReadOnlyAdmin
from tagging.models import CustomerTag, Tag, TagChange, TagGroup


class TagInline(admin.TabularInline):
    model = Tag
    extra = 1
    fields = ["code", "name_zh", "name_en", "order", "is_active"]


@admin.register(TagGroup)
class TagGroupAdmin(admin.ModelAdmin):
    list_display = ["code", "name_zh", "name_en", "kind", "is_multi", "order", "is_active"]
    list_editable = ["order", "is_active"]
    list_filter = ["kind", "is_multi", "is_active"]
    search_fields = ["code", "name_zh", "name_en"]
    inlines = [TagInline]

    def get_readonly_fields(self, request, obj=None):
        # Codes are the API's vocabulary ("group:code"): fixed once created.
        return ["code"] if obj else []


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["__str__", "name_zh", "name_en", "group", "order", "is_active"]
    list_filter = ["group", "is_active"]
    list_select_related = ["group"]
    search_fields = ["code", "name_zh", "name_en", "group__code"]


@admin.register(CustomerTag)
class CustomerTagAdmin(BigListAdmin):
    list_display = ["customer", "tag", "tagged_by", "tagged_at"]
    list_filter = ["tag__group"]
    list_select_related = ["customer", "tag", "tag__group", "tagged_by"]
    raw_id_fields = ["customer", "tagged_by"]
    autocomplete_fields = ["tag"]
    readonly_fields = ["tagged_at"]

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # a tag is added or removed, never edited (the history records both)


@admin.register(TagChange)
class TagChangeAdmin(ReadOnlyAdmin):
    list_display = ["changed_at", "customer", "tag", "added", "changed_by"]
    list_filter = ["added", "tag__group"]
    list_select_related = ["customer", "tag", "tag__group", "changed_by"]
    raw_id_fields = ["customer", "changed_by"]
