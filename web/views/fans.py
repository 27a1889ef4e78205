"""Guide pages: My fans, the fan card (tags, profile), Today; the manager's guide transfer.

Every page and fragment starts from `customers.selectors` (another store's fan is a 404). One view
serves the full page or, for htmx, the fragment it swaps.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from customers.forms import PAGE_SIZE, FanFilterForm, ProfileForm
from customers.models import Customer, CustomerLabels, Staff, Store
from customers.selectors import (
    customers_visible_to,
    orders_visible_to,
    staff_of,
    staff_visible_to,
    stores_visible_to,
)
from fanops.vocabulary import Apple, RfmSegment, RStage
from tagging.models import Tag, TagChange, TagGroup

# Groups shown on their own in a fan row (dot, stage badge), not among the row's tags.
ROW_HIDDEN_GROUPS = {"apple", "r_stage", "rfm_segment", "membership", "rhythm", "birthday_month"}
ROW_TAGS = 3
REQUIRED_PROFILE = ("consumption_notes", "birthday", "body_shape", "height_cm", "skin_tone")
TODAY_LISTS = ("birthdays", "sleeping", "remarks", "upgrades")


# --- helpers ----------------------------------------------------------------------------------


def current_staff(request: HttpRequest) -> Staff:
    """The signed-in user's active staff profile; users without one see no store data."""
    staff = staff_of(request.user)
    if staff is None:
        raise PermissionDenied
    return staff


def store_choice(
    request: HttpRequest, staff: Staff, *, required: bool = False
) -> tuple[Store | None, list[Store]]:
    """HQ's store switcher (`?store=CODE`): the chosen store and the stores to offer.

    Staff of a store always get their own store; HQ gets the chosen store (or the first one when
    a page needs a single store) and every store to switch to.
    """
    if not staff.is_hq:
        return staff.store, []
    stores = list(stores_visible_to(staff).filter(is_active=True).order_by("code"))
    code = request.GET.get("store") or request.POST.get("store") or ""
    chosen = next((s for s in stores if s.code == code), None)
    if code and chosen is None:
        raise Http404
    if chosen is None and required and stores:
        chosen = stores[0]
    return chosen, stores


def scoped_customers(request: HttpRequest, staff: Staff, *, required: bool = False):
    store, stores = store_choice(request, staff, required=required)
    queryset = customers_visible_to(staff)
    if store is not None and staff.is_hq:
        queryset = queryset.filter(store=store)
    return queryset, store, stores


def tag_names() -> dict[str, str]:
    """`"group:code"` → display name in the active language, for every tag (1 query)."""
    english = (get_language() or "").startswith("en")
    names = {
        f"{group}:{code}": (name_en if english and name_en else name_zh)
        for group, code, name_zh, name_en in Tag.objects.values_list(
            "group__code", "code", "name_zh", "name_en"
        )
    }
    for group, choices in (("apple", Apple), ("rfm_segment", RfmSegment), ("r_stage", RStage)):
        for value, label in choices.choices:
            names.setdefault(f"{group}:{value}", str(label))
    return names


def manual_taxonomy() -> list[TagGroup]:
    """Active manual groups with their active tags, in order (2 queries)."""
    from tagging.selectors import tag_groups

    return list(tag_groups(kinds=[TagGroup.Kind.MANUAL]))


def filter_tag_choices(taxonomy: list[TagGroup]) -> list[tuple[str, str]]:
    return [(f"{g.code}:{t.code}", t.name) for g in taxonomy for t in g.tags.all()]


def _labels_of(customer: Customer) -> CustomerLabels | None:
    try:
        return customer.labels
    except CustomerLabels.DoesNotExist:
        return None


# --- My fans ----------------------------------------------------------------------------------


def _first_page_without_count(queryset, number: str | None):
    """Page `number` of `queryset` and its rows; a first page that holds every match needs no
    COUNT(*) (the usual phone-tail or name search), a longer list counts once."""
    paginator = Paginator(queryset, PAGE_SIZE)
    first = None
    if number in (None, "", "1"):
        first = list(queryset[: PAGE_SIZE + 1])
        if len(first) <= PAGE_SIZE:
            paginator.count = len(first)  # cached_property: set it and COUNT(*) never runs
    page = paginator.get_page(number)
    rows = first[:PAGE_SIZE] if first is not None else list(page.object_list)
    return page, rows


@login_required
@require_GET
def customer_list(request: HttpRequest) -> HttpResponse:
    """My fans: search and filter chips; a guide sees her own fans unless she asks for the store."""
    from tagging.selectors import tags_by_customer

    staff = current_staff(request)
    base, store, stores = scoped_customers(request, staff)
    taxonomy = manual_taxonomy()
    guides = (
        list(
            staff_visible_to(staff)
            .filter(store=store or staff.store)
            .exclude(role=Staff.Role.HQ)
            .only("id", "work_number", "name", "is_active")
        )
        if staff.role != Staff.Role.GUIDE and (store or staff.store)
        else []
    )
    guide_choices = [
        (g.work_number, g.name if g.is_active else f"{g.name} ({_('leaving')})") for g in guides
    ]
    form = FanFilterForm(
        request.GET,
        tag_choices=filter_tag_choices(taxonomy),
        guide_choices=guide_choices,
        guide_ids={g.work_number: g.pk for g in guides},
    )
    queryset = (
        form.apply(base, staff=staff)
        .select_related("labels")
        .only(
            "id",
            "name",
            "phone",
            "store_id",
            "guide_id",
            "labels__apple",
            "labels__r_stage",
            "labels__rfm_segment",
        )
        .order_by("-id")
    )
    page, rows = _first_page_without_count(queryset, request.GET.get("page"))
    names = tag_names()
    manual_codes = {group.code for group in taxonomy}
    tags = tags_by_customer([c.pk for c in rows])
    for customer in rows:
        refs = sorted(
            (r for r in tags.get(customer.pk, []) if r.split(":", 1)[0] not in ROW_HIDDEN_GROUPS),
            key=lambda r: r.split(":", 1)[0] not in manual_codes,  # the guides' own tags first
        )
        customer.row_tags = [names.get(ref, ref) for ref in refs[:ROW_TAGS]]
        customer.more_tags = max(0, len(refs) - ROW_TAGS)
        labels = _labels_of(customer)
        customer.apple_code = labels.apple if labels else ""
        customer.stage_code = labels.r_stage if labels else ""
    chips = {
        "apple": [
            (value, label, form.toggled("apple", value), form.value("apple") == value)
            for value, label in Apple.choices
        ],
        "stage": [
            (value, label, form.toggled("stage", value), form.value("stage") == value)
            for value, label in RStage.choices
        ],
        "segment": [
            (value, label, form.toggled("segment", value), form.value("segment") == value)
            for value, label in RfmSegment.choices
        ],
    }
    tag_chips = [
        (
            group,
            [
                (
                    f"{group.code}:{t.code}",
                    t.name,
                    form.toggled("tag", f"{group.code}:{t.code}"),
                    f"{group.code}:{t.code}" in form.value("tag"),
                )
                for t in group.tags.all()
            ],
        )
        for group in taxonomy
    ]
    context = {
        "form": form,
        "current": form.cleaned_data,
        "page": page,
        "rows": rows,
        "chips": chips,
        "tag_chips": tag_chips,
        "store": store,
        "stores": stores,
        "staff": staff,
        "query": form.query(),
        "scope_all": bool(form.value("all")),
        "scope_toggle": form.query(all="" if form.value("all") else "1"),
        "store_param": f"store={store.code}&" if store and staff.is_hq else "",
        # Managers looking at one guide's fans can hand the ticked ones (or all) to a colleague.
        "transfer_from": next((g for g in guides if g.work_number == form.value("guide")), None),
        "transfer_to": [g for g in guides if g.is_active and g.work_number != form.value("guide")],
    }
    fragment = request.htmx and not request.htmx.history_restore_request
    template = "customers/_fan_results.html" if fragment else "customers/fan_list.html"
    response = render(request, template, context)
    patch_vary_headers(response, ["HX-Request"])
    return response


# --- Fan card ---------------------------------------------------------------------------------


def _fan(request: HttpRequest, staff: Staff, pk: int) -> Customer:
    return get_object_or_404(
        customers_visible_to(staff).select_related(
            "labels", "guide", "store__labelling", "referrer"
        ),
        pk=pk,
    )


def _completeness(customer: Customer) -> tuple[int, list[str]]:
    filled = {
        "consumption_notes": bool(customer.consumption_notes.strip()),
        "birthday": bool(customer.birth_calendar and customer.birth_month and customer.birth_day),
        "body_shape": bool(customer.body_shape.strip()),
        "height_cm": customer.height_cm is not None,
        "skin_tone": bool(customer.skin_tone.strip()),
    }
    missing = [key for key in REQUIRED_PROFILE if not filled[key]]
    return round(100 * (len(REQUIRED_PROFILE) - len(missing)) / len(REQUIRED_PROFILE)), missing


def _birthday_text(customer: Customer) -> str:
    if not (customer.birth_calendar and customer.birth_month and customer.birth_day):
        return ""
    if customer.birth_calendar == Customer.Calendar.LUNAR:
        leap = _("leap ") if customer.birth_is_leap_month else ""
        text = _("lunar %(leap)smonth %(m)d day %(d)d") % {
            "leap": leap,
            "m": customer.birth_month,
            "d": customer.birth_day,
        }
    else:
        text = _("%(m)d/%(d)d") % {"m": customer.birth_month, "d": customer.birth_day}
    if customer.birth_year:
        text = f"{customer.birth_year} · {text}"
    return text


def _tag_groups_context(customer: Customer) -> dict:
    """Manual groups as chips (with the fan's current tags), computed groups read-only."""
    from tagging.selectors import tags_by_customer

    current = set(tags_by_customer([customer.pk]).get(customer.pk, []))
    names = tag_names()
    groups = []
    for group in manual_taxonomy():
        chips = [
            {
                "ref": f"{group.code}:{t.code}",
                "name": t.name,
                "on": f"{group.code}:{t.code}" in current,
            }
            for t in group.tags.all()
        ]
        groups.append({"group": group, "chips": chips})
    computed = []
    manual_codes = {g["group"].code for g in groups}
    for ref in sorted(current):
        group_code = ref.split(":", 1)[0]
        if group_code not in manual_codes:
            computed.append({"ref": ref, "name": names.get(ref, ref), "group": group_code})
    return {"customer": customer, "tag_groups": groups, "computed_tags": computed}


@login_required
@require_GET
def customer_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The fan card: profile (required fields first), tags, remark names, orders, history."""
    staff = current_staff(request)
    customer = _fan(request, staff, pk)
    percent, missing = _completeness(customer)
    labels = _labels_of(customer)
    orders = list(orders_visible_to(staff).filter(customer=customer).select_related("guide")[:20])
    label_changes = list(
        customer.label_changes.select_related("run").order_by("-run_id", "group")[:20]
    )
    names = tag_names()
    for change in label_changes:
        change.from_name = names.get(f"{change.group}:{change.from_code}", change.from_code)
        change.to_name = names.get(f"{change.group}:{change.to_code}", change.to_code)
    tag_changes = list(
        TagChange.objects.filter(customer=customer).select_related("tag__group", "changed_by")[:20]
    )
    context = {
        "staff": staff,
        "labels": labels,
        "percent": percent,
        "missing": missing,
        "birthday": _birthday_text(customer),
        "orders": orders,
        "label_changes": label_changes,
        "tag_changes": tag_changes,
        **_tag_groups_context(customer),
    }
    return render(request, "customers/fan_card.html", context)


@login_required
@require_POST
def customer_tag_toggle(request: HttpRequest, pk: int) -> HttpResponse:
    """Tap a chip: add the tag (a single-choice group switches) or remove it; htmx swaps the groups."""
    from tagging.services import change_tags

    staff = current_staff(request)
    customer = _fan(request, staff, pk)
    ref = request.POST.get("tag", "")
    action = request.POST.get("action", "add")
    error = ""
    try:
        if action == "remove":
            change_tags(customer=customer, remove=[ref], by=staff)
        else:
            change_tags(customer=customer, add=[ref], by=staff)
    except ValidationError as exc:
        error = " ".join(exc.messages)
    if not request.htmx:
        if error:
            messages.error(request, error)
        return redirect("customers:detail", pk=customer.pk)
    # 200 even for a refused tap: htmx swaps only 2xx answers, and the chips must show the message.
    context = {**_tag_groups_context(customer), "tag_error": error}
    return render(request, "customers/_tag_groups.html", context)


@login_required
@require_http_methods(["GET", "POST"])
def customer_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Edit the profile through `update_customer`; errors are shown next to the field, nothing saved."""
    from customers.services import can_mark_opinion_leader, update_customer

    staff = current_staff(request)
    customer = _fan(request, staff, pk)
    can_mark = can_mark_opinion_leader(staff)
    if request.method == "POST":
        form = ProfileForm(request.POST, can_mark_leader=can_mark)
        if form.is_valid():
            try:
                update_customer(customer=customer, changes=form.changes(), by=staff)
            except ValidationError as exc:
                form.add_service_errors(exc)
            else:
                messages.success(request, _("Profile saved."))
                return redirect("customers:detail", pk=customer.pk)
        status = 400
    else:
        form = ProfileForm(initial=ProfileForm.initial_for(customer), can_mark_leader=can_mark)
        status = 200
    customer.refresh_from_db()
    return render(
        request, "customers/fan_edit.html", {"form": form, "customer": customer}, status=status
    )


# --- Today ------------------------------------------------------------------------------------


def _ticks(request: HttpRequest, key: str) -> set[str]:
    return set(request.session.get("today_ticks", {}).get(key, []))


def _today_key(kind: str, run_id: int | None, today) -> str:
    """Ticks of the birthday list last a day; the others last until the next relabel run."""
    return f"{kind}:{today.isoformat()}" if kind == "birthdays" else f"{kind}:run{run_id or 0}"


@login_required
@require_GET
def today(request: HttpRequest) -> HttpResponse:
    """The guide's worklists: birthdays in 7 days, fans gone sleeping / pre-churn last night,
    remark names to update in WeChat, apple upgrades to congratulate."""
    from segmentation.selectors import (
        apple_upgrades_of_last_run,
        label_changes_of_last_run,
        last_run,
    )
    from tagging.selectors import remark_mismatches, upcoming_birthdays

    staff = current_staff(request)
    # HQ works through one store's lists at a time (the brand's would be thousands of rows).
    base, store, stores = scoped_customers(request, staff, required=True)
    mine = base.filter(guide=staff) if staff.role == Staff.Role.GUIDE else base
    local_today = timezone.localdate()
    run = last_run()
    names = tag_names()

    birthdays = []
    for item in upcoming_birthdays(customers=mine, today=local_today, within_days=7):
        customer, when = (
            item if isinstance(item, tuple) else (item, getattr(item, "next_birthday", None))
        )
        birthdays.append(
            {
                "customer": customer,
                "when": when,
                "days": (when - local_today).days if when else None,
            }
        )
    sleeping = [
        {"customer": c.customer, "to": names.get(f"r_stage:{c.to_code}", c.to_code)}
        for c in label_changes_of_last_run(
            customers=mine, group="r_stage", to_codes=[RStage.SLEEPING, RStage.PRE_CHURN]
        )[:100]
    ]
    upgrades = [
        {
            "customer": c.customer,
            "from": names.get(f"apple:{c.from_code}", c.from_code),
            "to": names.get(f"apple:{c.to_code}", c.to_code),
            "to_code": c.to_code,
        }
        for c in apple_upgrades_of_last_run(customers=mine)[:100]
    ]
    remarks = [
        {"customer": c, "standard": c.standard_store_remark or c.standard_personal_remark}
        for c in remark_mismatches(customers=mine).order_by("id")[:100]
    ]
    lists = {
        "birthdays": birthdays,
        "sleeping": sleeping,
        "remarks": remarks,
        "upgrades": upgrades,
    }
    done = {
        kind: _ticks(request, _today_key(kind, run.pk if run else None, local_today))
        for kind in lists
    }
    for kind, items in lists.items():
        for item in items:
            item["done"] = str(item["customer"].pk) in done[kind]
    return render(
        request,
        "customers/today.html",
        {
            "lists": lists,
            "run": run,
            "today": local_today,
            "store": store,
            "stores": stores,
            "staff": staff,
        },
    )


@login_required
@require_POST
def today_tick(request: HttpRequest) -> HttpResponse:
    """Tick (or untick) one item of a Today list; kept in the session per list and run."""
    from segmentation.selectors import last_run

    staff = current_staff(request)
    kind = request.POST.get("list", "")
    if kind not in TODAY_LISTS:
        raise Http404
    customer = get_object_or_404(
        customers_visible_to(staff).only("id", "name"), pk=request.POST.get("customer") or 0
    )
    run = last_run()
    key = _today_key(kind, run.pk if run else None, timezone.localdate())
    ticks = request.session.get("today_ticks", {})
    done = set(ticks.get(key, []))
    done.symmetric_difference_update({str(customer.pk)})
    # Keep only the current keys: yesterday's ticks and old runs' ticks are dropped.
    current = {_today_key(k, run.pk if run else None, timezone.localdate()) for k in TODAY_LISTS}
    ticks = {k: v for k, v in ticks.items() if k in current}
    ticks[key] = sorted(done)
    request.session["today_ticks"] = ticks
    if request.htmx:
        return render(
            request,
            "customers/_tick.html",
            {"kind": kind, "customer": customer, "done": str(customer.pk) in done},
        )
    return redirect("customers:today")
