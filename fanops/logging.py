"""Logging filter that masks mainland mobile numbers, so logs never keep a raw phone."""

import logging
import re

PHONE_IN_TEXT = re.compile(r"(?<!\d)(?:\+?86[\s-]?)?(1\d{2})[\s-]?(\d{4})[\s-]?(\d{4})(?!\d)")


def mask_phones_in(text: str) -> str:
    return PHONE_IN_TEXT.sub(lambda m: f"{m.group(1)}****{m.group(3)}", text)


class MaskPhoneFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_phones_in(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True
