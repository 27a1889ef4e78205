"""Manager and HQ pages: the store dashboard (quota, segments, guides, transfers) and HQ.

Scoped through `customers.selectors`; numbers come from `segmentation.selectors`.
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Iterator
from datetime import date

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from customers.forms import FanFilterForm, TransferForm
from customers.models import GuideTransfer, Staff, Store
from customers.selectors import customers_visible_to, staff_visible_to
from customers.views import current_staff, filter_tag_choices, manual_taxonomy, store_choice
from fanops.vocabulary import Apple, Membership, RfmSegment, RStage
from segmentation import services
from segmentation.models import RelabelRun
from segmentation.selectors import (
    apple_quota_for_store,
    company_apple_quota,
    repurchase_stats,
    segment_summary,
)

EXPORT_COLUMNS = [
    "id",
    "name",
    "phone",
    "store",
    "guide",
    "apple",
    "rfm_segment",
    "r_stage",
    "membership",
    "tags",
]
EXPORT_CHUNK = 2000


def _manager_or_hq(request: HttpRequest) -> Staff:
    staff = current_staff(request)
    if staff.role == Staff.Role.GUIDE:
        raise Http404  # a guide has no dashboard; 404 like any page outside her scope
    return staff


def _hq(request: HttpRequest) -> Staff:
    staff = current_staff(request)
    if not staff.is_hq:
        raise Http404
    return staff


def _labelled(counts: dict, choices) -> list[dict]:
    return [
        {"code": value, "label": str(label), "n": counts.get(value, 0)} for value, label in choices
    ]


# --- Store dashboard --------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def dashboard(request: HttpRequest) -> HttpResponse:
    """The store's apple quota, segments, stages, repurchase, guides; POST moves fans between guides."""
    from customers.transfers import transfer_customers

    staff = _manager_or_hq(request)
    store, stores = store_choice(request, staff, required=True)
    if store is None:
        raise Http404
    fans = customers_visible_to(staff).filter(store=store)
    staff_qs = staff_visible_to(staff).filter(store=store).exclude(role=Staff.Role.HQ)
    status = 200
    if request.method == "POST":
        form = TransferForm(request.POST, staff_queryset=staff_qs)
        if form.is_valid():
            from_guide = form.cleaned_data["from_guide"]
            to_guide = form.cleaned_data["to_guide"]
            moving = fans.filter(guide=from_guide)
            if form.cleaned_data["customers"]:
                moving = moving.filter(pk__in=form.cleaned_data["customers"])
            try:
                moved = transfer_customers(
                    customers=moving, to_guide=to_guide, by=staff, now=timezone.now()
                )
            except ValidationError as exc:
                for field, errors in exc.message_dict.items():
                    for error in errors:
                        form.add_error(field if field in form.fields else None, error)
            else:
                messages.success(
                    request,
                    _("%(n)d fans moved from %(a)s to %(b)s.")
                    % {"n": moved, "a": from_guide.name, "b": to_guide.name},
                )
                return redirect(request.get_full_path())
        status = 400
    else:
        form = TransferForm(staff_queryset=staff_qs)

    quota = apple_quota_for_store(store=store)
    apple_names = dict(Apple.choices)
    tiers = [
        {
            **tier,
            "label": str(apple_names.get(tier["apple"], tier["apple"])),
            "percent": min(100, round(100 * tier["actual"] / tier["target"]))
            if tier["target"]
            else 100,
        }
        for tier in quota["tiers"]
    ]
    summary = segment_summary(customers=fans)
    repurchase = repurchase_stats(customers=fans)
    guides = list(
        staff_qs.annotate(fans=Count("customers", filter=Q(customers__store=store))).order_by(
            "-is_active", "name"
        )
    )
    chart = {
        "quota": {
            "labels": [t["label"] for t in tiers],
            "target": [t["target"] for t in tiers],
            "actual": [t["actual"] for t in tiers],
            "colors": {"target": "#9e9e9e", "actual": "#c0392b"},
            "names": {"target": _("target"), "actual": _("actual")},
        },
        "segments": {
            "labels": [str(label) for _v, label in RfmSegment.choices],
            "values": [summary["rfm_segment"].get(v, 0) for v, _l in RfmSegment.choices],
        },
        "stages": {
            "labels": [str(label) for _v, label in RStage.choices],
            "values": [summary["r_stage"].get(v, 0) for v, _l in RStage.choices],
        },
    }
    # Who moved whom and when (the 90-day rule counts these rows).
    transfers = list(
        GuideTransfer.objects.filter(customer__in=fans)
        .select_related("customer", "from_guide", "to_guide", "moved_by")
        .order_by("-moved_at", "-id")[:10]
    )
    context = {
        "staff": staff,
        "store": store,
        "stores": stores,
        "transfers": transfers,
        "quota": quota,
        "tiers": tiers,
        "summary": summary,
        "segments": _labelled(summary["rfm_segment"], RfmSegment.choices),
        "stages": _labelled(summary["r_stage"], RStage.choices),
        "memberships": _labelled(summary["membership"], Membership.choices),
        "repurchase": repurchase,
        "repurchase_percent": round(100 * repurchase["repurchase_rate"], 1)
        if repurchase["repurchase_rate"] is not None
        else None,
        "guides": guides,
        "form": form,
        "chart": chart,
    }
    return render(request, "segmentation/dashboard.html", context, status=status)


# --- HQ ---------------------------------------------------------------------------------------


@login_required
@require_GET
def hq(request: HttpRequest) -> HttpResponse:
    """All stores side by side (quota attainment, segments), relabel runs, exports."""
    staff = _hq(request)
    company = company_apple_quota()
    apple_names = dict(Apple.choices)
    stats = {
        row["store_id"]: row
        for row in customers_visible_to(staff)
        .values("store_id")
        .annotate(
            fans=Count("pk"),
            active=Count("pk", filter=Q(labels__r_stage=RStage.ACTIVE)),
            sleeping=Count("pk", filter=Q(labels__r_stage=RStage.SLEEPING)),
            pre_churn=Count("pk", filter=Q(labels__r_stage=RStage.PRE_CHURN)),
            churned=Count("pk", filter=Q(labels__r_stage=RStage.CHURNED)),
            important=Count("pk", filter=Q(labels__rfm_segment__startswith="important_")),
        )
        .order_by()
    }
    store_ids = dict(
        Store.objects.filter(code__in=[r["store"] for r in company["stores"]]).values_list(
            "code", "id"
        )
    )
    rows = []
    for row in company["stores"]:
        target = sum(t["target"] for t in row["tiers"])
        met = sum(min(t["actual"], t["target"]) for t in row["tiers"])
        rows.append(
            {
                **row,
                "attainment": round(100 * met / target) if target else None,
                "stats": stats.get(store_ids.get(row["store"]), {}),
            }
        )
    runs = list(RelabelRun.objects.order_by("-started_at", "-id")[:10])
    taxonomy = manual_taxonomy()
    export_form = FanFilterForm(request.GET or None, tag_choices=filter_tag_choices(taxonomy))
    context = {
        "staff": staff,
        "company": company,
        "tier_names": [
            (t["apple"], str(apple_names.get(t["apple"], t["apple"]))) for t in company["tiers"]
        ],
        "company_tiers": [
            {**t, "label": str(apple_names.get(t["apple"], t["apple"]))} for t in company["tiers"]
        ],
        "rows": rows,
        "runs": runs,
        "running": any(r.status == RelabelRun.Status.RUNNING for r in runs),
        "export_form": export_form,
        "apple_choices": Apple.choices,
        "stage_choices": RStage.choices,
        "segment_choices": RfmSegment.choices,
        "taxonomy": taxonomy,
        "stores": list(Store.objects.filter(is_active=True).order_by("code")),
        "today": timezone.localdate(),
    }
    return render(request, "segmentation/hq.html", context)


@login_required
@require_POST
def relabel_start(request: HttpRequest) -> HttpResponse:
    """Queue a relabel (after commit, so the worker never races this request)."""
    _hq(request)
    as_of = timezone.localdate()
    if request.POST.get("as_of"):
        try:
            as_of = date.fromisoformat(request.POST["as_of"])
        except ValueError:
            messages.error(request, _("Enter the date as YYYY-MM-DD."))
            return redirect("segmentation:hq")
    services.queue_relabel(as_of=as_of)
    messages.success(request, _("Relabel queued. Refresh in a minute to see the run."))
    return redirect("segmentation:hq")


# --- Export -----------------------------------------------------------------------------------


def _export_rows(request: HttpRequest, staff: Staff) -> Iterator[list[str]]:
    """The filtered fans as rows (chunked: a constant number of queries per EXPORT_CHUNK fans)."""
    from tagging.selectors import tags_by_customer

    form = FanFilterForm(request.GET, tag_choices=filter_tag_choices(manual_taxonomy()))
    queryset = customers_visible_to(staff)
    code = request.GET.get("store")
    if code:
        queryset = queryset.filter(store__code=code)
    queryset = (
        form.apply(queryset, staff=staff)
        .values_list(
            "id",
            "name",
            "phone",
            "store__code",
            "guide__work_number",
            "labels__apple",
            "labels__rfm_segment",
            "labels__r_stage",
            "labels__membership",
        )
        .order_by("id")
    )
    last_id = 0
    while True:
        chunk = list(queryset.filter(id__gt=last_id)[:EXPORT_CHUNK])
        if not chunk:
            return
        tags = tags_by_customer([row[0] for row in chunk])
        for row in chunk:
            yield [*("" if v is None else str(v) for v in row), " ".join(tags.get(row[0], []))]
        last_id = chunk[-1][0]


class _Echo:
    def write(self, value: str) -> str:
        return value


def _filename(ext: str) -> str:
    return f"fanops-fans-{timezone.localdate():%Y%m%d}.{ext}"


@login_required
@require_GET
def export_csv(request: HttpRequest) -> StreamingHttpResponse:
    """The filtered fan list as UTF-8 CSV (with BOM, so Excel opens Chinese names), streamed."""
    staff = _hq(request)
    writer = csv.writer(_Echo())

    def stream() -> Iterator[str]:
        yield "\ufeff" + writer.writerow(EXPORT_COLUMNS)
        for row in _export_rows(request, staff):
            yield writer.writerow(row)

    response = StreamingHttpResponse(stream(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{_filename("csv")}"'
    return response


@login_required
@require_GET
def export_xlsx(request: HttpRequest) -> FileResponse:
    """The filtered fan list as XLSX (openpyxl write-only mode: memory stays flat)."""
    from openpyxl import Workbook

    staff = _hq(request)
    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title="fans")
    sheet.append(EXPORT_COLUMNS)
    for row in _export_rows(request, staff):
        sheet.append(row)
    handle = tempfile.TemporaryFile()  # noqa: SIM115 - FileResponse closes it after streaming
    workbook.save(handle)
    handle.seek(0)
    return FileResponse(
        handle,
        as_attachment=True,
        filename=_filename("xlsx"),
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
