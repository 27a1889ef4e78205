"""Manager and HQ pages: the store dashboard and its guide transfer, HQ, relabel, fan exports.

Reads go through `web.selectors.store`; the transfer is `customers.transfers.transfer_customers`
and the relabel `segmentation.tasks.queue_relabel`.
"""

from __future__ import annotations

import tempfile

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from customers.models import Staff, Store
from customers.transfers import transfer_customers
from segmentation import services, tasks
from web import exports
from web.forms.fans import FanFilterForm, TransferForm
from web.selectors.store import (
    FAN_EXPORT_COLUMNS,
    dashboard_page,
    export_filter_options,
    fan_export_rows,
    fans_to_move,
    hq_page,
    store_staff,
)
from web.views.base import context_of, hq_only, manager_or_hq, store_choice

# --- Store dashboard --------------------------------------------------------------------------


def _dashboard_store(request: HttpRequest, staff: Staff) -> tuple[Store, list[Store]]:
    store, stores = store_choice(request, staff, required=True)
    if store is None:
        raise Http404
    return store, stores


def _dashboard_response(
    request: HttpRequest, staff: Staff, store: Store, stores: list[Store], form: TransferForm
) -> HttpResponse:
    context = context_of(
        dashboard_page(staff=staff, store=store, today=timezone.localdate()),
        staff=staff,
        store=store,
        stores=stores,
        form=form,
    )
    status = 400 if form.is_bound else 200
    return render(request, "segmentation/dashboard.html", context, status=status)


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    """The store's apple quota, segments, stages, repurchase, guides, and the transfer form."""
    staff = manager_or_hq(request)
    store, stores = _dashboard_store(request, staff)
    form = TransferForm(staff_queryset=store_staff(staff=staff, store=store))
    return _dashboard_response(request, staff, store, stores, form)


@login_required
@require_POST
def dashboard_transfer(request: HttpRequest) -> HttpResponse:
    """Move all or the ticked fans of one guide to another (from the dashboard or My fans), then
    back to the dashboard; refused moves show the dashboard with the errors by the fields."""
    staff = manager_or_hq(request)
    store, stores = _dashboard_store(request, staff)
    form = TransferForm(request.POST, staff_queryset=store_staff(staff=staff, store=store))
    if form.is_valid():
        data = form.cleaned_data
        moving = fans_to_move(
            staff=staff, store=store, from_guide=data["from_guide"], ids=data["customers"]
        )
        try:
            moved = transfer_customers(
                customers=moving, to_guide=data["to_guide"], by=staff, now=timezone.now()
            )
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(
                request,
                _("%(n)d fans moved from %(a)s to %(b)s.")
                % {"n": moved, "a": data["from_guide"].name, "b": data["to_guide"].name},
            )
            query = f"?store={store.code}" if staff.is_hq else ""
            return redirect(reverse("segmentation:dashboard") + query)
    return _dashboard_response(request, staff, store, stores, form)


# --- HQ ---------------------------------------------------------------------------------------


@login_required
@require_GET
def hq(request: HttpRequest) -> HttpResponse:
    """All stores side by side (quota attainment, segments), relabel runs, exports."""
    staff = hq_only(request)
    services.fail_interrupted_runs()  # a run killed mid-way is not shown running
    page = hq_page(staff=staff, today=timezone.localdate())
    return render(request, "segmentation/hq.html", context_of(page, staff=staff))


@login_required
@require_POST
def relabel_start(request: HttpRequest) -> HttpResponse:
    """Queue a relabel (after commit, so the worker never races this request)."""
    hq_only(request)
    try:
        as_of = services.parse_as_of(request.POST.get("as_of"))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("segmentation:hq")
    tasks.queue_relabel(as_of=as_of)
    messages.success(request, _("Relabel queued. Refresh in a minute to see the run."))
    return redirect("segmentation:hq")


# --- Export -----------------------------------------------------------------------------------


def _export_rows(request: HttpRequest, staff: Staff):
    # The HQ page's export form: apple, stage, segment, manual tags; invalid values are ignored.
    form = FanFilterForm(request.GET, options=export_filter_options())
    return fan_export_rows(
        staff=staff, filters=form.filters(), store_code=request.GET.get("store", "")
    )


def _filename(ext: str) -> str:
    return f"fanops-fans-{timezone.localdate():%Y%m%d}.{ext}"


@login_required
@require_GET
def export_csv(request: HttpRequest) -> StreamingHttpResponse:
    """The filtered fan list as UTF-8 CSV, streamed; cells inert (`web.exports`)."""
    staff = hq_only(request)
    lines = exports.csv_lines(FAN_EXPORT_COLUMNS, _export_rows(request, staff))
    response = StreamingHttpResponse(lines, content_type=exports.CSV_CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{_filename("csv")}"'
    return response


@login_required
@require_GET
def export_xlsx(request: HttpRequest) -> FileResponse:
    """The filtered fan list as XLSX; text cells are strings, never formulas (`web.exports`)."""
    staff = hq_only(request)
    handle = tempfile.TemporaryFile()  # noqa: SIM115 - FileResponse closes it after streaming
    exports.write_xlsx(handle, FAN_EXPORT_COLUMNS, _export_rows(request, staff), title="fans")
    handle.seek(0)
    return FileResponse(
        handle,
        as_attachment=True,
        filename=_filename("xlsx"),
        content_type=exports.XLSX_CONTENT_TYPE,
    )
