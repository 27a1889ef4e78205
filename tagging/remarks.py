"""WeChat remark names (SPEC §3, seed 000): build them, and parse them back into their parts.

Store account (门店号):  `WXL-张三-VIP-20240315`  (guide abbreviation, fan, VIP, first date)
Personal account (个人号): `张三-红苹果-20230105` (old fan: first sale) or `李四-青苹果-张三` (new
fan: referrer). Parts are joined by settings.REMARK_SEPARATOR; WeChat keeps at most
settings.REMARK_MAX_LENGTH characters, so only the fan's name is shortened to fit.
Pure functions: no database, no clock; parse errors are in the active language.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime

import numpy as np
import pandas as pd
from django.conf import settings
from django.utils.translation import gettext as _
from django.utils.translation import pgettext
from pypinyin import Style, lazy_pinyin

VIP = "VIP"
APPLE_ZH = {
    "blossom": "苹果花",
    "green": "青苹果",
    "yellow": "黄苹果",
    "red": "红苹果",
    "golden": "金苹果",
}
APPLE_BY_ZH = {zh: code for code, zh in APPLE_ZH.items()}
OLD_FAN_MIN_SALES = 2
_DATE_RE = re.compile(r"^\d{8}$")

# Surnames whose reading differs from the character's common reading (pypinyin reads words,
# not surnames): the first character of a guide's name is read as a surname.
SURNAME_INITIALS = {
    "曾": "Z", "单": "S", "仇": "Q", "区": "O", "查": "Z", "解": "X", "朴": "P", "繁": "P",
    "盖": "G", "黑": "H", "乐": "Y", "缪": "M", "尉": "Y", "长": "C", "种": "C", "重": "C",
    "翟": "Z", "召": "S", "员": "Y", "秘": "B", "覃": "Q", "折": "S", "隗": "W", "句": "G",
}  # fmt: skip


def _separator() -> str:
    return settings.REMARK_SEPARATOR


def _max_length() -> int:
    return settings.REMARK_MAX_LENGTH


def _latin_initial(ch: str) -> str:
    """'é' → 'E', 'Ｗ' → 'W'; '' if the character is not a Latin letter."""
    base = unicodedata.normalize("NFKD", unicodedata.normalize("NFKC", ch))[:1]
    return base.upper() if base.isascii() and base.isalpha() else ""


def _is_cjk(ch: str) -> bool:
    return unicodedata.category(ch) == "Lo" and not _latin_initial(ch)


def guide_abbreviation(name: str, override: str = "") -> str:
    """Upper-case pinyin initials of a guide's name: 王小丽 → `WXL`; `override` wins if set.

    Chinese characters give their pinyin initial (the first one read as a surname); each Latin
    word gives its first letter (`Amy 王` → `AW`); digits, spaces and punctuation are skipped.
    Characters pypinyin cannot read (very rare or private-use) are skipped; a name made only of
    them keeps its first such character so the remark still has an abbreviation.
    """
    if override and override.strip():
        return override.strip()
    name = (name or "").strip()
    initials: list[str] = []
    in_latin_word = False
    first_hanzi = True
    for ch in name:
        latin = _latin_initial(ch)
        if latin:
            if not in_latin_word:
                initials.append(latin)
            in_latin_word = True
            continue
        if ch in "'’" and in_latin_word:
            continue
        in_latin_word = False
        if not _is_cjk(ch):
            continue
        if first_hanzi and ch in SURNAME_INITIALS:
            initials.append(SURNAME_INITIALS[ch])
        else:
            reading = lazy_pinyin(ch, style=Style.FIRST_LETTER)[0]
            if reading and reading.isascii() and reading.isalpha():
                initials.append(reading[0].upper())
        first_hanzi = False
    if initials:
        return "".join(initials)
    return next((ch for ch in name if unicodedata.category(ch).startswith("L")), "")


def _fit(fan_name: str, make) -> str:
    """Shorten only the fan's name (keeping its first characters) until `make(name)` fits."""
    fan_name = (fan_name or "").strip()
    text = make(fan_name)
    cut = fan_name
    while len(text) > _max_length() and len(cut) > 1:
        cut = cut[:-1]
        text = make(cut)
    return text


def _date_part(value: date | datetime | None) -> str:
    return value.strftime("%Y%m%d") if value else ""


def store_account_remark(*, abbreviation: str, fan_name: str, first_date: date | None) -> str:
    """`WXL-张三-VIP-20240315`; the date part is left out when unknown, and the abbreviation
    when the fan has no guide (`张三-VIP-20240315`)."""
    sep = _separator()
    head = [abbreviation] if abbreviation else []
    tail = [VIP] + ([_date_part(first_date)] if first_date else [])

    def make(name: str) -> str:
        return sep.join([*head, name, *tail])

    return _fit(fan_name, make)


def personal_account_remark(
    *,
    fan_name: str,
    apple: str,
    lifetime_sales: int,
    first_sale: date | None,
    referrer_name: str = "",
) -> str:
    """Old fan (≥ 2 lifetime sales): `张三-红苹果-20230105`; new fan: `李四-青苹果-张三`.

    The last part is left out when there is no first sale (old fan) or no referrer (new fan).
    """
    sep = _separator()
    apple_zh = APPLE_ZH.get(apple, "")
    if lifetime_sales >= OLD_FAN_MIN_SALES:
        last = _date_part(first_sale)
    else:
        last = (referrer_name or "").strip()
    tail = [p for p in (apple_zh, last) if p]

    def make(name: str) -> str:
        return sep.join([name, *tail])

    return _fit(fan_name, make)


# --- the same for many fans at once (the relabel job: a first run builds 1M of each) ------------


def _stripped(values) -> np.ndarray:
    """`(value or "").strip()` of each value, as an object array."""
    return np.asarray([(v or "").strip() for v in values], dtype=object)


def _lengths(values: np.ndarray) -> np.ndarray:
    return np.fromiter(map(len, values), dtype=np.int64, count=len(values))


def _date_parts(values) -> np.ndarray:
    """`_date_part` of each datetime64 value ('' where NaT): integer arithmetic, not strftime."""
    days = np.asarray(values).astype("datetime64[D]")
    known = ~np.isnat(days)
    years = days.astype("datetime64[Y]").astype(np.int64) + 1970
    months = days.astype("datetime64[M]").astype(np.int64) % 12 + 1
    day = (days - days.astype("datetime64[M]")).astype(np.int64) + 1
    out = np.full(len(days), "", dtype=object)
    plain = known & (years >= 1000) & (years <= 9999)
    out[plain] = (years * 10000 + months * 100 + day)[plain].astype(str).astype(object)
    odd = np.flatnonzero(known & ~plain)  # strftime's own way with other years
    out[odd] = [_date_part(value.item()) for value in days[odd]]
    return out


def _fit_many(names: np.ndarray, head: np.ndarray, tail: np.ndarray) -> np.ndarray:
    """`head + name + tail` per row, the name shortened as `_fit` does: to the longest start
    that fits, never below one character."""
    rest = _lengths(head) + _lengths(tail)
    size = _lengths(names)
    over = np.flatnonzero((size + rest > _max_length()) & (size > 1))
    if len(over):
        names = names.copy()
        keep = np.maximum(1, _max_length() - rest[over])
        names[over] = [name[:k] for name, k in zip(names[over], keep.tolist(), strict=True)]
    return head + names + tail


def _joined(parts: np.ndarray, sep: str) -> np.ndarray:
    """`sep + part` where the part is not empty, else ''."""
    return np.where(parts != "", sep + parts, "")


def store_account_remarks(
    *, abbreviations: np.ndarray, fan_names: np.ndarray, first_dates: np.ndarray
) -> np.ndarray:
    """`store_account_remark` of each row (object arrays; `first_dates` datetime64, NaT for
    unknown), vectorised: a first run builds a million of them."""
    sep = _separator()
    abbreviations = np.asarray(abbreviations, dtype=object)
    head = np.where(abbreviations != "", abbreviations + sep, "")
    tail = sep + VIP + _joined(_date_parts(first_dates), sep)
    return _fit_many(_stripped(fan_names), head.astype(object), tail.astype(object))


def personal_account_remarks(
    *,
    fan_names: np.ndarray,
    apples: np.ndarray,
    lifetime_sales: np.ndarray,
    first_sales: np.ndarray,
    referrer_names: np.ndarray,
) -> np.ndarray:
    """`personal_account_remark` of each row (`first_sales` datetime64, NaT for none),
    vectorised."""
    sep = _separator()
    apple_zh = pd.Series(np.asarray(apples, dtype=object)).map(APPLE_ZH).fillna("").to_numpy()
    old = np.asarray(lifetime_sales) >= OLD_FAN_MIN_SALES
    last = np.where(old, _date_parts(first_sales), _stripped(referrer_names))
    tail = (_joined(apple_zh.astype(object), sep) + _joined(last.astype(object), sep)).astype(
        object
    )
    head = np.full(len(tail), "", dtype=object)
    return _fit_many(_stripped(fan_names), head, tail)


@dataclass(frozen=True)
class ParsedRemark:
    """A remark name split into its parts. `error` says what could not be parsed ('' if fine)."""

    kind: str = ""  # "store" | "personal" | "" (not parsed)
    parts: tuple[str, ...] = field(default=())
    abbreviation: str = ""
    fan_name: str = ""
    first_date: date | None = None  # store: member card / first sale; personal: first sale
    apple: str = ""  # personal only: apple code
    referrer_name: str = ""  # personal only (new fan)
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error

    @property
    def may_be_shortened(self) -> bool:
        """True when the remark is as long as WeChat allows, so the fan's name may be cut."""
        return len(_separator().join(self.parts)) >= _max_length()


def _parse_date(text: str) -> date | None:
    if not _DATE_RE.match(text):
        return None
    try:
        return datetime.strptime(text, "%Y%m%d").date()  # noqa: DTZ007 - a calendar date
    except ValueError:
        return None


def parse_remark(text: str) -> ParsedRemark:
    """Split a store-account or personal-account remark name back into its parts.

    parse_remark(store_account_remark(...)) and parse_remark(personal_account_remark(...)) give
    back the parts they were built from (for names without the separator; a shortened name
    comes back shortened). A remark that fits neither form comes back with `error` set.
    """
    sep = _separator()
    text = (text or "").strip()
    if not text:
        return ParsedRemark(error=_("The remark is empty."))
    parts = tuple(text.split(sep))
    n = len(parts)

    # Store account: [ABBR-]name…-VIP[-YYYYMMDD] (no ABBR for a fan without a guide)
    vip_at = None
    if n >= 2 and parts[-1] == VIP:
        vip_at = n - 1
    elif n >= 3 and parts[-2] == VIP:
        vip_at = n - 2
    if vip_at is not None:
        if vip_at == 1:
            abbreviation, fan_name = "", parts[0]
        else:
            abbreviation, fan_name = parts[0], sep.join(parts[1:vip_at])
        if vip_at > 1 and not abbreviation:
            error = _("The guide abbreviation before “%(name)s” is missing.") % {"name": fan_name}
            return ParsedRemark(parts=parts, error=error)
        if not fan_name:
            return ParsedRemark(parts=parts, error=_("The fan's name is missing."))
        first_date = None
        if vip_at == n - 2:
            first_date = _parse_date(parts[-1])
            if first_date is None:
                error = _("“%(part)s” after VIP is not a date written YYYYMMDD.") % {
                    "part": parts[-1]
                }
                return ParsedRemark(parts=parts, error=error)
        return ParsedRemark(
            kind="store",
            parts=parts,
            abbreviation=abbreviation,
            fan_name=fan_name,
            first_date=first_date,
        )

    # Personal account: name…-苹果[-YYYYMMDD | -referrer]
    apple_at = None
    if n >= 2 and parts[-1] in APPLE_BY_ZH:
        apple_at = n - 1
    elif n >= 3 and parts[-2] in APPLE_BY_ZH:
        apple_at = n - 2
    if apple_at is not None:
        fan_name = sep.join(parts[:apple_at])
        if not fan_name:
            return ParsedRemark(parts=parts, error=_("The fan's name is missing."))
        apple = APPLE_BY_ZH[parts[apple_at]]
        first_date, referrer = None, ""
        if apple_at == n - 2:
            last = parts[-1]
            if not last:
                error = _("The part after “%(apple)s” is empty.") % {"apple": parts[apple_at]}
                return ParsedRemark(parts=parts, error=error)
            if _DATE_RE.match(last):
                first_date = _parse_date(last)
                if first_date is None:
                    error = _("“%(part)s” is not a valid date (YYYYMMDD).") % {"part": last}
                    return ParsedRemark(parts=parts, error=error)
            else:
                referrer = last
        return ParsedRemark(
            kind="personal", parts=parts, fan_name=fan_name, apple=apple, first_date=first_date,
            referrer_name=referrer,
        )  # fmt: skip

    name = pgettext("remark part", "name")
    store_form = sep.join([pgettext("remark part", "ABBR"), name, VIP, "YYYYMMDD"])
    personal_form = sep.join([name, pgettext("remark part", "apple"), "…"])
    error = _(
        "“%(text)s” is neither a store-account remark (%(store_form)s) nor a personal-account "
        "remark (%(personal_form)s): no “VIP” or apple part (%(apples)s) where expected."
    ) % {
        "text": text,
        "store_form": store_form,
        "personal_form": personal_form,
        "apples": ", ".join(APPLE_ZH.values()),
    }
    return ParsedRemark(parts=parts, error=error)
