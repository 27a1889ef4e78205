"""Site-wide pages: `/` sends a signed-in user to their role's page."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.views.decorators.http import require_GET

from customers.models import Staff
from customers.selectors import staff_of

ROLE_HOME = {
    Staff.Role.GUIDE: "/fans/",
    Staff.Role.MANAGER: "/dashboard/",
    Staff.Role.HQ: "/hq/",
}


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """Guides land on My fans, managers on the store dashboard, HQ on the HQ page."""
    staff = staff_of(request.user)
    if staff is None:
        # A superuser without a staff profile: the admin is the only place for them.
        return redirect("/admin/")
    return redirect(ROLE_HOME.get(staff.role, "/fans/"))
