import pytest
from django.core.exceptions import ValidationError

from customers.phones import mask_phone, normalize_phone


@pytest.mark.parametrize(
    "raw",
    ["+86 138 0013 8000", "13800138000", "138-0013-8000", "0086 13800138000", "8613800138000"],
)
def test_accepted_formats_normalise_to_eleven_digits(raw):
    assert normalize_phone(raw) == "13800138000"


@pytest.mark.parametrize(
    "raw",
    [
        "010-62345678",
        "1380013800",
        "138001380001",
        "1380013800a",
        "",
        "12800138000",
        "+1 4155550100",
    ],
)
def test_anything_but_a_mainland_mobile_is_refused(raw):
    with pytest.raises(ValidationError) as excinfo:
        normalize_phone(raw)
    assert excinfo.value.code == "invalid_phone"


def test_masking_keeps_the_first_three_and_the_last_four_digits():
    assert mask_phone("13800138000") == "138****8000"


@pytest.mark.parametrize("raw", ["010-62345678", "1380013800", "138OO138000"])
def test_a_refused_phone_says_what_a_valid_one_looks_like(raw):
    with pytest.raises(ValidationError) as excinfo:
        normalize_phone(raw)
    # "11 digits starting with 1", or its translation
    assert "11" in str(excinfo.value.messages[0])


@pytest.mark.parametrize(
    "raw",
    [
        "１３８００１３８０００",
        "＋８６ １３８ ００１３ ８０００",
        "１３８－００１３－８０００",
        "1３8００138000",
    ],
)
def test_full_width_digits_of_a_chinese_ime_normalise_to_ascii(raw):
    assert normalize_phone(raw) == "13800138000"


@pytest.mark.parametrize(
    "raw",
    [
        "١٣٨٠٠١٣٨٠٠٠",  # Arabic-Indic
        "۱۳۸۰۰۱۳۸۰۰۰",  # extended Arabic-Indic (Persian)
        "१३८००१३८०००",  # Devanagari
        "1380013800٠",  # one Arabic-Indic zero among ASCII digits
        "¹³⁸⁰⁰¹³⁸⁰⁰⁰",  # superscripts
        "138\u200b00138000",  # a zero-width space
    ],
)
def test_other_non_ascii_digits_are_refused_with_the_phone_error(raw):
    with pytest.raises(ValidationError) as excinfo:
        normalize_phone(raw)
    assert excinfo.value.code == "invalid_phone"
