"""Mainland mobile numbers: one normal form (11 digits) everywhere, masked in anything shown."""

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

# ASCII digits only: `\d` would let Arabic-Indic or other digits through to the database's
# `[0-9]` check (a 500, not a form error).
MOBILE = re.compile(r"1[3-9][0-9]{9}")
_SEPARATORS = re.compile(r"[\s\-()]")
# A Chinese IME in full-width mode types ０-９ (U+FF10–FF19) and full-width ＋ － （ ）:
# the same number, so the same fan. Every other non-ASCII digit is refused.
_FULL_WIDTH = str.maketrans(
    {**{0xFF10 + n: str(n) for n in range(10)}, 0xFF0B: "+", 0xFF0D: "-", 0xFF08: "(", 0xFF09: ")"}
)


def normalize_phone(raw: str) -> str:
    """`+86 138 0013 8000` (or `１３８…` in full-width digits) → `13800138000`; anything but a
    mainland mobile is a ValidationError."""
    text = _SEPARATORS.sub("", str(raw or "").translate(_FULL_WIDTH))
    if text.startswith("+86"):
        text = text[3:]
    elif text.startswith("0086"):
        text = text[4:]
    elif text.startswith("86") and len(text) == 13:
        text = text[2:]
    if not MOBILE.fullmatch(text):
        raise ValidationError(
            _("Enter a mainland mobile number: 11 digits starting with 1."), code="invalid_phone"
        )
    return text


def mask_phone(phone: str) -> str:
    """`13800138000` → `138****8000`."""
    if len(phone) < 7:
        return "****"
    return f"{phone[:3]}****{phone[-4:]}"
