"""`python manage.py import_wechat_contacts FILE [--dry-run] [--store CODE]` — remark,wechat_id,phone.

Records each fan's current WeChat remark (and WeChat ID) from a guide's exported contacts, so
the remark worklist (`tagging.selectors.remark_mismatches`) can list the non-standard ones.
A row is matched by phone when it has one that belongs to a fan, else by parsing the remark
(SPEC §3 forms) and looking the fan up by name plus the date / apple / referrer parts — only
when exactly one fan fits. Unmatched and bad rows are reported with their line numbers; the
good rows are imported; rerunning the same file changes nothing.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError, CommandParser
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.csv_import import (
    CsvImportCommand,
    CsvRow,
    Outcome,
    RowError,
    column_message,
    unknown_store,
)
from customers.models import Customer, Store
from customers.phones import mask_phone, normalize_phone
from tagging.remarks import ParsedRemark, guide_abbreviation, parse_remark

MAX_LENGTH = 64  # Customer.wechat_remark / wechat_id


def candidates_for(parsed: ParsedRemark, fans: QuerySet[Customer]) -> list[Customer]:
    """Fans of `fans` that the parsed remark can describe (name first, then the other parts)."""
    by_name = fans.filter(name=parsed.fan_name)
    if not by_name.exists() and parsed.may_be_shortened:
        by_name = fans.filter(name__startswith=parsed.fan_name)
    if parsed.kind == "store":
        if parsed.first_date:
            by_name = by_name.filter(
                Q(member_since=parsed.first_date)
                | Q(member_since__isnull=True, labels__first_sale=parsed.first_date)
            )
    else:
        by_name = by_name.filter(labels__apple=parsed.apple)
        if parsed.first_date:
            by_name = by_name.filter(labels__first_sale=parsed.first_date)
        if parsed.referrer_name:
            by_name = by_name.filter(referrer__name=parsed.referrer_name)
    found = list(by_name.select_related("guide")[:50])
    if len(found) > 1 and parsed.kind == "store":
        same_guide = [
            fan
            for fan in found
            if fan.guide
            and guide_abbreviation(fan.guide.name, fan.guide.abbreviation) == parsed.abbreviation
        ]
        if same_guide:
            found = same_guide
    return found


class Command(CsvImportCommand):
    help = (
        "Record fans' WeChat remarks from a UTF-8 CSV of contacts: remark,wechat_id,phone "
        "(phone optional). Matches by phone, else by the remark's parts."
    )
    columns = ("remark", "wechat_id", "phone")
    optional_columns = ("phone",)
    required = ("remark",)

    def add_arguments(self, parser: CommandParser) -> None:
        super().add_arguments(parser)
        parser.add_argument("--store", help="only match fans of this store (code)")

    def prepare(self, options: dict) -> None:
        self.fans = Customer.objects.all()
        if options.get("store"):
            store = Store.objects.filter(code=options["store"]).first()
            if store is None:
                raise CommandError(unknown_store(options["store"]))
            self.fans = self.fans.filter(store=store)
        self.seen: dict[int, int] = {}
        self.now = timezone.now()

    def match(self, row: CsvRow) -> Customer:
        phone_text = row["phone"]
        if phone_text:
            try:
                phone = normalize_phone(phone_text)
            except ValidationError:
                message = _('"%(phone)s" is not a mainland mobile number') % {
                    "phone": mask_phone(phone_text)
                }
                raise RowError(column_message("phone", message)) from None
            fan = self.fans.filter(phone=phone).first()
            if fan is not None:
                return fan
        parsed = parse_remark(row["remark"])
        if not parsed.ok:
            if phone_text:
                message = _("no fan has this phone, and the remark does not parse: %(error)s") % {
                    "error": parsed.error
                }
            else:
                message = parsed.error
            raise RowError(column_message("remark", message))
        found = candidates_for(parsed, self.fans)
        if not found:
            raise RowError(_("no fan matches “%(remark)s”") % {"remark": row["remark"]})
        if len(found) > 1:
            raise RowError(
                _("%(count)s fans match “%(remark)s”; add the phone to tell them apart")
                % {"count": len(found), "remark": row["remark"]}
            )
        return found[0]

    def import_row(self, row: CsvRow, options: dict) -> Outcome:
        remark, wechat_id = row["remark"], row["wechat_id"]
        if len(remark) > MAX_LENGTH or len(wechat_id) > MAX_LENGTH:
            raise RowError(
                _("remark and wechat_id: at most %(max)s characters") % {"max": MAX_LENGTH}
            )
        fan = self.match(row)
        if fan.pk in self.seen:
            raise RowError(_("the same fan as line %(line)s") % {"line": self.seen[fan.pk]})
        self.seen[fan.pk] = row.line
        new_id = wechat_id or fan.wechat_id
        if fan.wechat_remark == remark and fan.wechat_id == new_id:
            return Outcome.UNCHANGED
        Customer.objects.filter(pk=fan.pk).update(
            wechat_remark=remark, wechat_id=new_id, wechat_remark_recorded_at=self.now
        )
        return Outcome.UPDATED
