"""The Django admin's site: a user whose staff profile is switched off is refused, even with
`is_staff` (an HQ user who left keeps no admin access). Installed by fanops.apps.AdminConfig."""

from django.contrib import admin


class FanOpsAdminSite(admin.AdminSite):
    def has_permission(self, request) -> bool:
        if not super().has_permission(request):
            return False
        profile = getattr(request.user, "staff", None)  # users without a profile: superusers
        return profile is None or profile.is_active
