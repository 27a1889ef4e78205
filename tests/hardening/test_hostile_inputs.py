"""Hostile input on every write door (issue 12, "Must show").

Every door is driven through its public interface only: API paths (JSON bodies), page URLs (forms
as a browser sends them) and import command names (CSV files); never internal functions, so the
test holds while the code moves. The catalogue is DOORS × VALUES: one test per (door, value), and
the value is tried in every field of the door in turn (each try in its own savepoint, so the tries
are independent and a PostgreSQL error cannot poison the next one). For every try:

- never a 500 (API, pages) nor an exception other than CommandError escaping an import command
  (and never a PostgreSQL transaction left aborted);
- an API 4xx, a page 4xx, or a CSV line error leaves every table as it was: row counts of the
  business apps and the fans' rows are unchanged (nothing half-written); a CSV file's good rows
  before and after the hostile one still go in, and only the hostile line is reported;
- a phone typed with full-width digits (a Chinese IME) behaves exactly as its ASCII twin; a phone
  with any other non-ASCII digits is refused; a relabel date at year 1 or 9999 is refused.

`test_each_door_accepts_its_base_input` proves each door's base input is good, so a refusal in
the catalogue is the hostile value's doing. `test_exported_cells_are_inert` (marker
`hostile_exports`, runs after the export fix of issue 12 item 2 is merged) checks that hostile
names and messages that were accepted come out of every CSV/XLSX export as inert text.

Counting the problems: `HOSTILE_REPORT=/tmp/hostile.jsonl pytest tests/hardening/...` appends one
JSON line per problem (door, field, value, kind) to that file.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from django.apps import apps
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.utils import timezone, translation

from customers.models import Customer, PosToken, Staff, Store
from followups.models import FollowUp
from tagging.models import Tag, TagGroup
from tests.campaigns.helpers import make_campaign, make_fan
from tests.factories import make_staff, make_store, seed_migrated_rows

PASSWORD = "pass-1234-word"
FAN_PHONE = "13900139000"
FULL_WIDTH_PHONE = "１３９００１３９０００"  # FAN_PHONE typed on a Chinese IME
PAID_AT = "2026-11-15T12:00:00+08:00"

# --- the catalogue of values ----------------------------------------------------------------------

TEXT_VALUES: dict[str, str] = {
    "fullwidth_digits": FULL_WIDTH_PHONE,
    "fullwidth_mixed": "139００１３９０００",  # an IME switched to full-width mid-number
    "arabic_indic_digits": "١٣٩٠٠١٣٩٠٠٠",
    # After an ASCII "139" these pass a `1[3-9]\d{9}` check and reach the database's [0-9]:
    "arabic_indic_mixed": "139٠٠١٣٩٠٠٠",
    "persian_mixed": "139۰۰۱۳۹۰۰۰",
    "devanagari_mixed": "139००१३९०००",
    "superscript_mixed": "139⁰⁰¹³⁹⁰⁰⁰",  # str.isdigit() says yes, int() says no
    "rtl_override": "\u202e13900139000\u202c",
    "rtl_mark": "\u200f13900139000",
    "zero_width": "139\u200b0013\u200d9000",
    "byte_order_mark": "\ufeff13900139000",
    "ideographic_spaces": "139\u30000013\u30009000",
    "emoji": "😀👩‍👩‍👧🇨🇳",
    "nul": "a\x00b",
    "long_text": "界" * 10_000,
    "long_digits": "9" * 10_000,
    "huge_integer": "99999999999999999999",
    "formula_hyperlink": '=HYPERLINK("http://x","y")',
    "formula_plus": "+cmd",
    "formula_minus": "-2+3",
    "formula_at": "@SUM(1)",
    "formula_tab": "\t=1+2",
    "formula_cr": "\r=1+2",
    "exponent": "1e3",
    "exponent_huge": "1E400",
    "not_a_number": "NaN",
    "infinity": "-Infinity",
    "date_year_1": "0001-01-01",
    "date_year_9999": "9999-12-31",
    "datetime_year_1": "0001-01-01T00:00:00+14:00",
    "datetime_year_9999": "9999-12-31T23:59:59-14:00",
    "empty": "",
    "blank": " \u3000 ",
}
JSON_ONLY_VALUES: dict[str, object] = {
    "lone_surrogate": "\ud800x",
    "type_list": [FAN_PHONE, 1],
    "type_empty_list": [],
    "type_object": {"a": "b"},
    "type_true": True,
    "type_false": False,
    "type_null": None,
    "type_big_int": 2**64,
    "type_negative": -1,
    "type_float": 1.5,
    "type_huge_float": 1e308,
}
FORM_ONLY_VALUES: dict[str, object] = {"type_list": ["a", "b"]}  # the field sent twice

FORMULAS = ("formula_hyperlink", "formula_plus", "formula_minus", "formula_at")
FORMULAS += ("formula_tab", "formula_cr")
OTHER_DIGITS = ("arabic_indic_digits", "arabic_indic_mixed", "persian_mixed", "devanagari_mixed")
OTHER_DIGITS += ("superscript_mixed",)
FULL_WIDTH = ("fullwidth_digits", "fullwidth_mixed")
INSANE_DATES = ("date_year_1", "date_year_9999", "datetime_year_1", "datetime_year_9999")


# --- the world every door works on ----------------------------------------------------------------


@dataclass
class World:
    store: Store
    guide: Staff
    guide2: Staff
    manager: Staff
    hq: Staff
    fans: list[Customer]
    pos_key: str
    tag: str  # a manual tag, "group:code"
    campaign: str  # an event code of `store`
    follow_up: int  # an open follow-up of the guide's first fan
    clients: dict[str, Client] = field(default_factory=dict)

    def client(self, persona: str) -> Client:
        if persona not in self.clients:
            client = Client(raise_request_exception=False)
            if persona == "pos":
                client.defaults["HTTP_AUTHORIZATION"] = f"Token {self.pos_key}"
            elif persona != "anon":
                client.force_login(getattr(self, persona).user)
            self.clients[persona] = client
        return self.clients[persona]


@pytest.fixture(autouse=True)
def _quiet_and_fast(settings, caplog):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    caplog.set_level("CRITICAL", logger="django.request")  # the 500s are counted, not printed
    cache.clear()  # throttle buckets
    yield
    cache.clear()


@pytest.fixture
def world(db) -> World:
    if not Tag.objects.filter(group__kind=TagGroup.Kind.MANUAL).exists():
        seed_migrated_rows()  # an earlier transactional test flushed the taxonomy
    tag = (
        Tag.objects.filter(group__kind=TagGroup.Kind.MANUAL, is_active=True, group__is_active=True)
        .select_related("group")
        .order_by("group__code", "code")
        .first()
    )
    store = make_store()
    guide = make_staff(store=store, role=Staff.Role.GUIDE, password=PASSWORD)
    guide2 = make_staff(store=store, role=Staff.Role.GUIDE)
    manager = make_staff(store=store, role=Staff.Role.MANAGER)
    hq = make_staff(role=Staff.Role.HQ)
    phones = (FAN_PHONE, "13900139011", "13900139022")
    fans = [make_fan(store=store, guide=guide, apple="red", phone=phone) for phone in phones]
    today = timezone.localdate()
    campaign = make_campaign(
        stores=[store],
        code="hostile",
        kind="online",
        starts_on=today - timedelta(days=1),
        ends_on=today + timedelta(days=5),
    )
    return World(
        store=store,
        guide=guide,
        guide2=guide2,
        manager=manager,
        hq=hq,
        fans=fans,
        pos_key=PosToken.issue(store=store, name="front desk")[1],
        tag=f"{tag.group.code}:{tag.code}",
        campaign=campaign.code,
        follow_up=FollowUp.objects.create(
            customer=fans[0],
            guide=guide,
            store=store,
            reason="after_sale_care",
            occasion=today.isoformat(),
            due_on=today,
        ).pk,
    )


# --- what a try left behind -------------------------------------------------------------------------


_COUNTS: list = []  # (tables, SQL), built once


def _counts_query() -> tuple[list[str], str]:
    if not _COUNTS:
        labels = ("auth", "customers", "tagging", "segmentation", "campaigns", "followups")
        tables = sorted(
            {m._meta.db_table for label in labels for m in apps.get_app_config(label).get_models()}
        )
        quote_name = connection.ops.quote_name
        counts = ", ".join(f"(SELECT COUNT(*) FROM {quote_name(t)})" for t in tables)
        _COUNTS.append((tables, f"SELECT {counts}"))
    return _COUNTS[0]


def _fingerprint(world: World) -> dict[str, object]:
    """Row counts of every business table and the world's fan rows (two queries)."""
    tables, sql = _counts_query()
    with connection.cursor() as cursor:
        cursor.execute(sql)
        state: dict[str, object] = dict(zip(tables, cursor.fetchone(), strict=True))
        cursor.execute(
            f"SELECT * FROM {connection.ops.quote_name(Customer._meta.db_table)}"
            f" WHERE id IN ({', '.join(str(f.pk) for f in world.fans)}) ORDER BY id"
        )
        for index, row in enumerate(cursor.fetchall()):
            state[f"fan{index}"] = row
    return state


def _delta(before: dict, after: dict) -> dict[str, object]:
    out: dict[str, object] = {}
    for key, value in after.items():
        old = before.get(key)
        if value != old:
            out[key] = value - old if isinstance(value, int) and isinstance(old, int) else "changed"
    return out


@dataclass
class Result:
    status: int | None = None  # HTTP status (None for a command)
    crash: str = ""  # a 500, an exception escaping a command, an aborted transaction
    lines: tuple[int, ...] = ()  # CSV: line numbers with errors
    inner: tuple[int, ...] = ()  # orders/batch: the item statuses
    delta: dict[str, object] = field(default_factory=dict)

    def same_as(self, other: Result) -> bool:
        keys = ("status", "crash", "lines", "inner", "delta")
        return all(getattr(self, k) == getattr(other, k) for k in keys)


class _Rollback(Exception):
    pass


def _isolated(world: World, before: dict, attempt: Callable[[], Result]) -> Result:
    """Run one try in a savepoint, note what it changed, roll it back."""
    result = Result()
    try:
        with transaction.atomic():
            result = attempt()
            try:
                with transaction.atomic():
                    result.delta = _delta(before, _fingerprint(world))
            except DatabaseError as exc:
                result.crash = result.crash or f"transaction left aborted: {exc}"[:300]
            raise _Rollback
    except _Rollback:
        pass
    return result


def _http(client: Client, method: str, path: str, **kwargs) -> Result:
    response = client.generic(method, path, **kwargs)
    result = Result(status=response.status_code)
    try:
        if getattr(response, "streaming", False):  # the test client closes it when consumed
            b"".join(response.streaming_content)
    except Exception as exc:  # a streamed export that breaks half-way
        result.crash = f"{type(exc).__name__} while streaming: {exc}"[:300]
    if response.status_code >= 500:
        exc_info = getattr(response, "exc_info", None)
        name = f"{exc_info[0].__name__}: {exc_info[1]}" if exc_info else "server error"
        result.crash = f"{response.status_code} {name}"[:300]
    elif "json" in response.get("Content-Type", "") and response.content:
        body = response.json()
        if isinstance(body, dict) and isinstance(body.get("results"), list):
            result.inner = tuple(r.get("status") for r in body["results"] if isinstance(r, dict))
    return result


# --- doors --------------------------------------------------------------------------------------------


def _put(payload, path: str, value):
    """`payload` with `path` ("a.b.0.c"; "@body" = the whole body) set to `value`."""
    if path == "@body":
        return value
    payload = json.loads(json.dumps(payload))
    *parents, last = path.split(".")
    node = payload
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if isinstance(node, list):
        node[int(last)] = value
    else:
        node[last] = value
    return payload


@dataclass(frozen=True)
class Door:
    name: str
    kind: str  # "api" (JSON), "page" (form) or "csv" (import command)
    fields: tuple[str, ...]
    phones: tuple[str, ...] = ()  # fields holding a phone
    sane_dates: tuple[str, ...] = ()  # fields refusing dates outside a sane range
    writes: bool = True  # the base input writes rows (checked by the base test)
    # api / page
    method: str = "POST"
    path: str = ""  # with {id} / {code} placeholders, replaced by "@path"
    persona: str = "anon"
    base: Callable[[World], object] | None = None
    # csv
    command: str = ""
    rows: Callable[[World], list[list[str]]] | None = None  # good, hostile base, good
    args: tuple[str, ...] = ()

    def values(self) -> dict[str, object]:
        if self.kind == "api":
            return {**TEXT_VALUES, **JSON_ONLY_VALUES}
        if self.kind == "page":
            return {**TEXT_VALUES, **FORM_ONLY_VALUES}
        return dict(TEXT_VALUES)

    def url(self, world: World, override=None) -> str:
        ids = {"id": world.fans[0].pk, "code": world.campaign, "follow_up": world.follow_up}
        if override is not None:
            # A lone surrogate has no UTF-8 form: a client sends it as the replacement bytes.
            text = str(override).encode("utf-8", "surrogatepass").decode("utf-8", "replace")
            ids = dict.fromkeys(ids, quote(text, safe=""))
        return self.path.format(**ids)

    def attempt(self, world: World, name: str | None, value) -> Result:
        """Send the base input with `name` set to `value` (`name` None: the base input itself)."""
        if self.kind == "csv":
            return self._run_command(world, name, value)
        base = self.base(world)
        override = value if name == "@path" else None
        body = base if name in (None, "@path") else _put(base, name, value)
        client = world.client(self.persona)
        if self.kind == "api":
            content = json.dumps(body)
            return _http(
                client,
                self.method,
                self.url(world, override),
                data=content,
                content_type="application/json",
            )
        if self.method == "GET":
            return _http(
                client, "GET", self.url(world, override), data=None, QUERY_STRING=_form(body)
            )
        return _http(client, "POST", self.url(world, override), data=_form(body), **_FORM)

    def _run_command(self, world: World, name: str, value) -> Result:
        good1, hostile, good2 = self.rows(world)
        hostile = list(hostile)
        if name in self.fields:
            hostile[self.fields.index(name)] = value
        rows = [good1, hostile, good2] if name != "@good-only" else [good1, good2]
        buffer = io.StringIO()
        writer = csv.writer(buffer)  # CRLF rows, as a spreadsheet writes them: a CR is quoted
        writer.writerow(self.fields)
        writer.writerows(rows)
        path = Path(os.environ.get("TMPDIR", "/tmp")) / f"hostile-{os.getpid()}.csv"
        path.write_bytes(buffer.getvalue().encode("utf-8"))
        out, err = io.StringIO(), io.StringIO()
        result = Result()
        try:
            with translation.override("en"):
                call_command(self.command, str(path), *self.args, stdout=out, stderr=err)
        except CommandError:
            pass
        except Exception as exc:
            result.crash = f"{type(exc).__name__}: {exc}"[:300]
        finally:
            path.unlink(missing_ok=True)
        result.lines = tuple(
            sorted({int(m) for m in re.findall(r"^line (\d+):", err.getvalue(), re.M)})
        )
        return result


_FORM = {"content_type": "application/x-www-form-urlencoded"}


def _pairs(body: dict) -> list[tuple[str, str]]:
    pairs = []
    for key, value in body.items():
        for item in value if isinstance(value, list) else [value]:
            pairs.append((key, str(item)))
    return pairs


def _form(body: dict) -> str:
    return urlencode(_pairs(body), encoding="utf-8")


def _order(world: World, external_id: str = "H-1") -> dict:
    return {
        "external_id": external_id,
        "store": world.store.code,
        "customer": {"phone": "13900139044", "name": "新客"},
        "guide": world.guide.work_number,
        "paid_at": PAID_AT,
        "amount": "599.00",
        "kind": "sale",
        "payment_method": "card",
        "items": [
            {
                "sku": "SKU-1",
                "name": "连衣裙",
                "category": "dress",
                "quantity": 1,
                "unit_price": "599.00",
                "is_new_arrival": False,
            }
        ],
    }


ORDER_FIELDS = (
    "@body", "external_id", "store", "customer", "customer.phone", "customer.name", "guide",
    "paid_at", "amount", "kind", "refund_of", "payment_method", "items", "items.0",
    "items.0.sku", "items.0.name", "items.0.category", "items.0.quantity", "items.0.unit_price",
    "items.0.is_new_arrival",
)  # fmt: skip


def _fan_fields(world: World, phone: str) -> dict:
    return {
        "phone": phone,
        "name": "新粉丝",
        "gender": "f",
        "birthday": {"calendar": "gregorian", "year": 1990, "month": 5, "day": 20},
        "city": "杭州",
        "latitude": "30.1",
        "longitude": "120.1",
        "referrer": world.fans[1].pk,
        "guide": world.guide.work_number,
        "member_since": "2025-01-01",
        "do_not_contact": False,
        "body_shape": "匀称",
        "height_cm": 165,
        "skin_tone": "白皙",
        "consumption_notes": "喜欢连衣裙",
        "weight_kg": "55.5",
        "top_size": "M",
        "bottom_size": "M",
        "shoe_size": "37",
        "favourite_colours": "红",
        "notes": "",
    }


FAN_FIELDS = (
    "@body", "phone", "name", "gender", "birthday", "birthday.calendar", "birthday.year",
    "birthday.month", "birthday.day", "birthday.is_leap_month", "city", "latitude", "longitude",
    "referrer", "guide", "member_since", "do_not_contact", "body_shape", "height_cm", "skin_tone",
    "consumption_notes", "weight_kg", "top_size", "bottom_size", "shoe_size", "favourite_colours",
    "notes",
)  # fmt: skip


def _profile_form(world: World) -> dict:
    fan = _fan_fields(world, FAN_PHONE)
    del fan["birthday"], fan["referrer"], fan["guide"], fan["member_since"]
    return {
        **fan,
        "birth_calendar": "gregorian",
        "birth_year": "1990",
        "birth_month": "5",
        "birth_day": "20",
        "wechat_remark": "王-VIP",
        "do_not_contact": "",
    }


PROFILE_FIELDS = (
    "@path", "consumption_notes", "birth_calendar", "birth_year", "birth_month", "birth_day",
    "birth_is_leap_month", "body_shape", "height_cm", "skin_tone", "name", "phone", "gender", "city",
    "latitude", "longitude", "weight_kg", "top_size", "bottom_size", "shoe_size",
    "favourite_colours", "wechat_remark", "notes", "do_not_contact",
)  # fmt: skip
FILTER_FIELDS = ("q", "apple", "stage", "segment", "tag", "guide", "all", "store", "page")


def _campaign_in(world: World) -> dict:
    return {
        "code": "h-new",
        "name": "春季新品会",
        "kind": "offline",
        "stores": [world.store.code],
        "starts_on": "2026-12-20",
        "ends_on": "2026-12-22",
        "goal": "复购",
        "holdout_percent": 10,
        "seed": 7,
        "message_template": "{name}，周六见",
        "audience": {"all": [], "any": [world.tag], "none": []},
    }


DOORS: list[Door] = [
    # --- API ---
    Door(
        "api-orders",
        "api",
        ORDER_FIELDS,
        phones=("customer.phone",),
        path="/api/v1/orders/",
        persona="pos",
        base=_order,
    ),
    Door(
        "api-orders-batch",
        "api",
        (
            "@body",
            "orders",
            "orders.0",
            "orders.0.external_id",
            "orders.0.customer",
            "orders.0.customer.phone",
            "orders.0.customer.name",
            "orders.0.paid_at",
            "orders.0.amount",
            "orders.0.items",
            "orders.0.items.0.quantity",
            "orders.0.items.0.unit_price",
        ),  # fmt: skip
        phones=("orders.0.customer.phone",),
        path="/api/v1/orders/batch/",
        persona="pos",
        base=lambda w: {"orders": [_order(w, "H-B1")]},
    ),
    Door(
        "api-customers-create",
        "api",
        (*FAN_FIELDS, "store"),
        phones=("phone",),
        path="/api/v1/customers/",
        persona="guide",
        base=lambda w: {**_fan_fields(w, "13900139055"), "store": w.store.code},
    ),
    Door(
        "api-customers-patch",
        "api",
        ("@path", *FAN_FIELDS),
        phones=("phone",),
        method="PATCH",
        path="/api/v1/customers/{id}/",
        persona="guide",
        base=lambda w: _fan_fields(w, "13900139066"),
    ),
    Door(
        "api-customers-lookup",
        "api",
        ("@body", "phone"),
        phones=("phone",),
        writes=False,
        path="/api/v1/customers/lookup/",
        persona="pos",
        base=lambda w: {"phone": "13900139011"},
    ),
    Door(
        "api-customer-tags",
        "api",
        ("@path", "@body", "add", "add.0", "remove"),
        path="/api/v1/customers/{id}/tags/",
        persona="guide",
        base=lambda w: {"add": [w.tag], "remove": []},
    ),
    Door(
        "api-tags-bulk",
        "api",
        ("@body", "customers", "customers.0", "add", "add.0", "remove"),
        path="/api/v1/tags/bulk/",
        persona="guide",
        base=lambda w: {"customers": [w.fans[0].pk], "add": [w.tag], "remove": []},
    ),
    Door(
        "api-campaigns-create",
        "api",
        (
            "@body",
            "code",
            "name",
            "kind",
            "stores",
            "stores.0",
            "starts_on",
            "ends_on",
            "goal",
            "holdout_percent",
            "seed",
            "message_template",
            "audience",
            "audience.any",
            "audience.any.0",
        ),  # fmt: skip
        path="/api/v1/campaigns/",
        persona="manager",
        base=_campaign_in,
    ),
    Door(
        "api-campaign-audience",
        "api",
        ("@path", "@body", "all", "any", "any.0", "none"),
        path="/api/v1/campaigns/{code}/audience/",
        persona="manager",
        base=lambda w: {"all": [], "any": ["apple:red"], "none": []},
    ),
    Door(
        "api-campaign-check-ins",
        "api",
        ("@path", "@body", "phone"),
        phones=("phone",),
        path="/api/v1/campaigns/{code}/check-ins/",
        persona="pos",
        base=lambda w: {"phone": "13900139011"},
    ),
    Door(
        "api-follow-up-complete",
        "api",
        ("@path", "@body", "channel", "reached", "note"),
        path="/api/v1/follow-ups/{follow_up}/complete/",
        persona="guide",
        base=lambda w: {"channel": "wechat", "reached": True, "note": "聊了新款"},
    ),
    Door(
        "api-follow-up-snooze",
        "api",
        ("@path", "@body", "until"),
        writes=False,  # an update of one row: the row counts do not show it
        path="/api/v1/follow-ups/{follow_up}/snooze/",
        persona="guide",
        base=lambda w: {"until": (timezone.localdate() + timedelta(days=3)).isoformat()},
    ),
    Door(
        "api-follow-up-skip",
        "api",
        ("@path", "@body", "reason"),
        writes=False,  # an update of one row: the row counts do not show it
        path="/api/v1/follow-ups/{follow_up}/skip/",
        persona="guide",
        base=lambda w: {"reason": "已到店"},
    ),
    Door(
        "api-customer-contacts",
        "api",
        ("@path", "@body", "channel", "note"),
        path="/api/v1/customers/{id}/contacts/",
        persona="guide",
        base=lambda w: {"channel": "phone", "note": "电话回访"},
    ),
    Door(
        "api-relabel",
        "api",
        ("@body", "as_of"),
        sane_dates=("as_of",),
        path="/api/v1/relabel/",
        persona="hq",
        base=lambda w: {"as_of": "2026-11-30"},
    ),
    Door(
        "api-auth-token",
        "api",
        ("@body", "username", "password"),
        writes=False,
        path="/api/v1/auth/token/",
        base=lambda w: {"username": w.guide.user.username, "password": PASSWORD},
    ),
    # --- pages ---
    Door(
        "page-sign-in",
        "page",
        ("username", "password"),
        writes=False,
        path="/accounts/login/",
        base=lambda w: {"username": w.guide.user.username, "password": PASSWORD},
    ),
    Door(
        "page-fan-edit",
        "page",
        PROFILE_FIELDS,
        phones=("phone",),
        path="/fans/{id}/edit/",
        persona="guide",
        base=_profile_form,
    ),
    Door(
        "page-tag-toggle",
        "page",
        ("@path", "tag", "action"),
        path="/fans/{id}/tags/",
        persona="guide",
        base=lambda w: {"tag": w.tag, "action": "add"},
    ),
    Door(
        "page-follow-up-done",
        "page",
        ("@path", "channel", "reached", "note"),
        path="/today/{follow_up}/done/",
        persona="guide",
        base=lambda w: {"channel": "wechat", "reached": "true", "note": "聊了新款"},
    ),
    Door(
        "page-follow-up-snooze",
        "page",
        ("@path", "days"),
        writes=False,  # an update of one row: the row counts do not show it
        path="/today/{follow_up}/snooze/",
        persona="guide",
        base=lambda w: {"days": "3"},
    ),
    Door(
        "page-follow-up-skip",
        "page",
        ("@path", "reason"),
        writes=False,  # an update of one row: the row counts do not show it
        path="/today/{follow_up}/skip/",
        persona="guide",
        base=lambda w: {"reason": "已到店"},
    ),
    Door(
        "page-fan-contacted",
        "page",
        ("@path", "channel", "note"),
        path="/fans/{id}/contacted/",
        persona="guide",
        base=lambda w: {"channel": "phone", "note": "电话回访"},
    ),
    Door(
        "page-fan-list",
        "page",
        FILTER_FIELDS,
        writes=False,
        method="GET",
        path="/fans/",
        persona="guide",
        base=lambda w: {"q": "9000", "tag": [w.tag]},
    ),
    Door(
        "page-dashboard-transfer",
        "page",
        ("from_guide", "to_guide", "customers", "store"),
        path="/dashboard/transfer/",
        persona="manager",
        base=lambda w: {
            "from_guide": str(w.guide.pk),
            "to_guide": str(w.guide2.pk),
            "customers": str(w.fans[0].pk),
        },
    ),
    Door(
        "page-campaign-create",
        "page",
        (
            "code",
            "name",
            "kind",
            "stores",
            "starts_on",
            "ends_on",
            "goal",
            "holdout_percent",
            "seed",
            "message_template",
        ),  # fmt: skip
        path="/campaigns/new/",
        persona="manager",
        base=lambda w: {**_campaign_in(w), "code": "h-page", "audience": []},
    ),
    Door(
        "page-audience-preview",
        "page",
        ("@path", "all", "any", "none"),
        writes=False,
        method="GET",
        path="/campaigns/{code}/audience/preview/",
        persona="manager",
        base=lambda w: {"any": ["apple:red"]},
    ),
    Door(
        "page-audience-freeze",
        "page",
        ("@path", "all", "any", "none"),
        path="/campaigns/{code}/audience/freeze/",
        persona="manager",
        base=lambda w: {"any": ["apple:red"]},
    ),
    Door(
        "page-check-in",
        "page",
        ("@path", "phone"),
        phones=("phone",),
        path="/campaigns/{code}/check-in/",
        persona="guide",
        base=lambda w: {"phone": "13900139011"},
    ),
    Door(
        "page-check-in-register",
        "page",
        ("phone", "name", "register"),
        path="/campaigns/{code}/check-in/",
        persona="guide",
        base=lambda w: {"phone": "13900139077", "name": "新来的", "register": "1"},
    ),
    Door(
        "page-hq-relabel",
        "page",
        ("as_of",),
        sane_dates=("as_of",),
        path="/hq/relabel/",
        persona="hq",
        base=lambda w: {"as_of": "2026-11-30"},
    ),
    Door(
        "page-hq-export-csv",
        "page",
        FILTER_FIELDS[:-1],
        writes=False,
        method="GET",
        path="/hq/export.csv",
        persona="hq",
        base=lambda w: {"apple": "red", "store": w.store.code},
    ),
    Door(
        "page-hq-export-xlsx",
        "page",
        FILTER_FIELDS[:-1],
        writes=False,
        method="GET",
        path="/hq/export.xlsx",
        persona="hq",
        base=lambda w: {"apple": "red", "store": w.store.code},
    ),
    # --- CSV imports ---
    Door(
        "csv-import_stores",
        "csv",
        ("code", "name", "city", "address", "latitude", "longitude"),
        command="import_stores",
        rows=lambda w: [
            [f"HS{n}", f"好店{n}", "杭州", f"湖滨路{n}号", "30.1", "120.1"] for n in (1, 2, 3)
        ],
    ),
    Door(
        "csv-import_staff",
        "csv",
        ("username", "name", "store", "role", "work_number", "abbreviation"),
        command="import_staff",
        args=("--password", PASSWORD),
        rows=lambda w: [
            [f"hs.{n}", f"员工{n}", w.store.code, "guide", f"HW{n:03d}", ""] for n in (1, 2, 3)
        ],
    ),
    Door(
        "csv-import_customers",
        "csv",
        (
            "phone",
            "name",
            "gender",
            "store",
            "guide",
            "birthday_calendar",
            "birthday_year",
            "birthday_month",
            "birthday_day",
            "birthday_is_leap_month",
            "city",
            "latitude",
            "longitude",
            "referrer_phone",
            "member_since",
            "is_opinion_leader",
        ),  # fmt: skip
        phones=("phone", "referrer_phone"),
        command="import_customers",
        args=("--no-progress",),
        rows=lambda w: [
            [
                f"1370000000{n}",
                f"客{n}",
                "f",
                w.store.code,
                w.guide.work_number,
                "gregorian",
                "1990",
                "5",
                "20",
                "0",
                "杭州",
                "30.1",
                "120.1",
                "",
                "2025-01-01",
                "0",
            ]
            for n in (1, 2, 3)
        ],  # fmt: skip
    ),
    Door(
        "csv-import_orders",
        "csv",
        (
            "external_id",
            "store",
            "phone",
            "guide",
            "paid_at",
            "amount",
            "kind",
            "refund_of",
            "payment_method",
        ),  # fmt: skip
        phones=("phone",),
        command="import_orders",
        args=("--no-progress",),
        rows=lambda w: [
            [
                f"HO-{n}",
                w.store.code,
                f"1370000001{n}",
                w.guide.work_number,
                PAID_AT,
                "599.00",
                "sale",
                "",
                "card",
            ]
            for n in (1, 2, 3)
        ],  # fmt: skip
    ),
    Door(
        "csv-import_wechat_contacts",
        "csv",
        ("remark", "wechat_id", "phone"),
        phones=("phone",),
        command="import_wechat_contacts",
        rows=lambda w: [[f"粉丝{n}-VIP", f"wxid_h{n}", w.fans[n].phone] for n in (1, 0, 2)],
    ),
]
DOORS_BY_NAME = {door.name: door for door in DOORS}
CASES = [(door.name, value) for door in DOORS for value in door.values()]


# --- judging a try ----------------------------------------------------------------------------------


def _refused(door: Door, result: Result, baseline: Result | None) -> bool:
    if door.kind == "csv":
        return 3 in result.lines
    if result.status is not None and 400 <= result.status < 500:
        return True
    return bool(result.inner) and all(400 <= (s or 0) < 500 for s in result.inner)


def _judge(door: Door, name: str, value_id: str, result: Result, baseline, twin) -> list[str]:
    where = f"{door.name} {name}={value_id}"
    if result.crash:
        return [f"crash: {where}: {result.crash}"]
    problems = []
    if any((s or 0) >= 500 for s in result.inner):
        problems.append(f"crash: {where}: batch item {result.inner}")
    refused = _refused(door, result, baseline)
    if door.kind == "csv":
        if set(result.lines) - {3}:
            problems.append(f"good-rows-lost: {where}: errors on lines {result.lines}")
        if refused and result.delta != baseline.delta:
            problems.append(f"partial-write: {where}: {result.delta} != {baseline.delta}")
        if not refused and any(
            isinstance(n, int) and result.delta.get(t, 0) < n for t, n in baseline.delta.items()
        ):
            problems.append(f"rows-skipped: {where}: no line error, {result.delta}")
    elif refused and result.delta:
        problems.append(f"partial-write: {where}: {result.status} but {result.delta}")
    must_refuse = (name in door.phones and value_id in OTHER_DIGITS) or (
        name in door.sane_dates and value_id in INSANE_DATES
    )
    if must_refuse and not refused and (door.kind != "page" or result.delta):
        problems.append(f"accepted: {where}: {result.status} {result.delta}")
    if twin is not None and not result.same_as(twin):
        problems.append(f"not-as-ascii: {where}: {result} vs the ASCII phone {twin}")
    return problems


def _report(problems: list[str]) -> None:
    target = os.environ.get("HOSTILE_REPORT")
    if not target or not problems:
        return
    with open(target, "a", encoding="utf-8") as handle:
        for problem in problems:
            kind, where, *_ = problem.split(": ", 2)
            door, case = where.split(" ", 1)
            handle.write(json.dumps({"kind": kind, "door": door, "case": case}) + "\n")


_CSV_BASELINES: dict[str, dict] = {}


def _baseline(door: Door, world: World, before: dict) -> Result | None:
    """What a file of only the two good rows changes (the same in every test's world)."""
    if door.kind != "csv":
        return None
    if door.name not in _CSV_BASELINES:
        result = _isolated(world, before, lambda: door.attempt(world, "@good-only", None))
        assert not result.crash and not result.lines, result
        _CSV_BASELINES[door.name] = result.delta
    return Result(delta=_CSV_BASELINES[door.name])


@pytest.mark.parametrize(("door_name", "value_id"), CASES, ids=[f"{d}-{v}" for d, v in CASES])
def test_no_door_breaks_on_a_hostile_value(world, door_name, value_id):
    door = DOORS_BY_NAME[door_name]
    value = door.values()[value_id]
    before = _fingerprint(world)
    baseline = _baseline(door, world, before)
    problems: list[str] = []
    for name in door.fields:
        result = _isolated(world, before, lambda n=name: door.attempt(world, n, value))
        twin = None
        if name in door.phones and value_id in FULL_WIDTH:
            twin = _isolated(world, before, lambda n=name: door.attempt(world, n, FAN_PHONE))
        problems += _judge(door, name, value_id, result, baseline, twin)
    _report(problems)
    assert problems == []


@pytest.mark.parametrize("door_name", [d.name for d in DOORS])
def test_each_door_accepts_its_base_input(world, door_name):
    """The base input is good: a refusal in the catalogue is the hostile value's doing."""
    door = DOORS_BY_NAME[door_name]
    before = _fingerprint(world)
    if door.kind == "csv":
        result = _isolated(world, before, lambda: door.attempt(world, None, None))
        assert not result.crash and result.lines == (), result
        good_only = _baseline(door, world, before).delta
        assert result.delta and result.delta != good_only  # the third row went in too
        return
    result = _isolated(world, before, lambda: door.attempt(world, None, None))
    assert not result.crash and result.status in (200, 201, 202, 302), result
    assert all(s in (200, 201) for s in result.inner), result
    if door.writes:
        assert result.delta, result


def test_the_catalogue_is_doors_times_values():
    assert len(CASES) == sum(len(d.values()) for d in DOORS)
    kinds = {k: sum(1 for d in DOORS if d.kind == k) for k in ("api", "page", "csv")}
    assert kinds == {"api": 16, "page": 17, "csv": 5}


# --- exports of what was accepted -----------------------------------------------------------------

EXPORTS = ("hq-csv", "hq-xlsx", "campaign-csv", "campaign-xlsx")
UNSAFE_START = ("=", "+", "-", "@", "\t", "\r")
NUMBER = re.compile(r"-?\d+(\.\d+)?")


def _cells(kind: str, body: bytes) -> list[tuple[str, object]]:
    """(data type, value) of every cell: 's' for CSV text, openpyxl's type for XLSX."""
    if kind.endswith("csv"):
        text = body.decode("utf-8-sig")
        return [("s", cell) for row in csv.reader(io.StringIO(text)) for cell in row]
    from openpyxl import load_workbook

    sheet = load_workbook(io.BytesIO(body)).active
    return [(cell.data_type, cell.value) for row in sheet.iter_rows() for cell in row]


def _live(kind: str, data_type: str, value) -> bool:
    if kind.endswith("xlsx"):
        return data_type == "f"  # a formula cell; strings are inert in XLSX
    text = str(value)
    return text.startswith(UNSAFE_START) and not NUMBER.fullmatch(text)


@pytest.mark.hostile_exports
@pytest.mark.parametrize("export", EXPORTS)
@pytest.mark.parametrize("value_id", FORMULAS)
def test_exported_cells_are_inert(world, value_id, export, tmp_path):
    """A name, a guide's name or an event message that was accepted comes out inert."""
    value = TEXT_VALUES[value_id]
    guide_api, manager, hq = world.client("guide"), world.client("manager"), world.client("hq")
    staff_csv = tmp_path / "staff.csv"
    staff_csv.write_text(
        "username,name,store,role,work_number,abbreviation\n"
        + _csv_line(["hx.1", value, world.store.code, "guide", "HX001", ""]),
        encoding="utf-8",
    )
    call_command("import_staff", str(staff_csv), "--password", PASSWORD, stdout=io.StringIO())
    fans_csv = tmp_path / "fans.csv"
    fans_csv.write_text(
        "phone,name,gender,store,guide,birthday_calendar,birthday_year,birthday_month,"
        "birthday_day,birthday_is_leap_month,city,latitude,longitude,referrer_phone,member_since,"
        "is_opinion_leader\n"
        + _csv_line(["13700000099", value, "", world.store.code, "HX001", *[""] * 11]),
        encoding="utf-8",
    )
    call_command("import_customers", str(fans_csv), "--no-progress", stdout=io.StringIO())
    answer = guide_api.post(
        "/api/v1/customers/",
        {"phone": "13700000098", "name": value, "guide": "HX001"},
        content_type="application/json",
    )
    ids = [answer.json()["id"]] if answer.status_code == 201 else []
    ids += list(Customer.objects.filter(phone="13700000099").values_list("pk", flat=True))
    assert ids, "neither door accepted the value: nothing to export"
    for pk in ids:
        assert guide_api.post(
            f"/api/v1/customers/{pk}/tags/", {"add": [world.tag]}, content_type="application/json"
        ).status_code in (200, 403, 404)
    event = manager.post(
        "/api/v1/campaigns/",
        {**_campaign_in(world), "code": "h-export", "message_template": value},
        content_type="application/json",
    )
    assert event.status_code == 201, event.content
    frozen = manager.post(
        "/api/v1/campaigns/h-export/audience/",
        {"any": [world.tag]},
        content_type="application/json",
    )
    assert frozen.status_code == 200, frozen.content
    if export.startswith("hq"):
        response = hq.get(f"/hq/export.{export.split('-')[1]}")
    else:
        response = manager.get(f"/campaigns/h-export/export.{export.split('-')[1]}")
    assert response.status_code == 200
    body = b"".join(response.streaming_content) if response.streaming else response.content
    cells = _cells(export, body)
    assert any(str(v).lstrip("'").strip() == value.strip() for _t, v in cells) or any(
        value.strip() in str(v) for _t, v in cells
    ), "the accepted value is not in the export"
    assert [v for t, v in cells if _live(export, t, v)] == []


def _csv_line(values: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(values)
    return buffer.getvalue()
