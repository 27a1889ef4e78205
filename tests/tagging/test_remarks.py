"""SPEC §3 WeChat remark names: abbreviations, both forms, the 20-character limit, parsing."""

from datetime import date

import numpy as np
from django.test import override_settings
from django.utils import translation
from hypothesis import given
from hypothesis import strategies as st

from tagging.remarks import (
    APPLE_ZH,
    guide_abbreviation,
    parse_remark,
    personal_account_remark,
    personal_account_remarks,
    store_account_remark,
    store_account_remarks,
)


def test_abbreviation_is_upper_case_pinyin_initials():
    assert guide_abbreviation("王小丽") == "WXL"


def test_abbreviation_override_wins():
    assert guide_abbreviation("王小丽", override="Lily") == "Lily"


def test_abbreviation_reads_the_first_character_as_a_surname():
    assert guide_abbreviation("曾小贤") == "ZXX"
    assert guide_abbreviation("单田芳") == "STF"


def test_abbreviation_keeps_latin_words_as_their_initial():
    assert guide_abbreviation("Amy王") == "AW"
    assert guide_abbreviation("Mary-Jane Li") == "MJL"
    assert guide_abbreviation("Ｗang丽") == "WL"


def test_abbreviation_reads_rare_characters_pypinyin_knows():
    assert guide_abbreviation("李𬌗") == "LH"


def test_abbreviation_skips_characters_pypinyin_cannot_read():
    assert guide_abbreviation("\U00030000王") == "W"
    assert guide_abbreviation("王\ue000丽") == "WL"


def test_abbreviation_of_only_unreadable_characters_keeps_the_first():
    assert guide_abbreviation("\U00030000\U00030001") == "\U00030000"


def test_store_account_remark_has_abbreviation_name_vip_and_first_date():
    assert (
        store_account_remark(abbreviation="WXL", fan_name="张三", first_date=date(2024, 3, 15))
        == "WXL-张三-VIP-20240315"
    )


def test_store_account_remark_of_a_fan_without_a_guide_has_no_abbreviation_part():
    remark = store_account_remark(abbreviation="", fan_name="张三", first_date=date(2024, 3, 15))
    assert remark == "张三-VIP-20240315"
    parsed = parse_remark(remark)
    assert (parsed.kind, parsed.abbreviation, parsed.fan_name, parsed.error) == (
        "store",
        "",
        "张三",
        "",
    )


def test_store_account_remark_leaves_out_an_unknown_date():
    assert (
        store_account_remark(abbreviation="WXL", fan_name="张三", first_date=None) == "WXL-张三-VIP"
    )


def test_personal_remark_of_an_old_fan_ends_with_the_first_sale():
    remark = personal_account_remark(
        fan_name="张三",
        apple="red",
        lifetime_sales=2,
        first_sale=date(2023, 1, 5),
        referrer_name="李四",
    )
    assert remark == "张三-红苹果-20230105"


def test_personal_remark_of_a_new_fan_ends_with_the_referrer():
    remark = personal_account_remark(
        fan_name="李四",
        apple="green",
        lifetime_sales=1,
        first_sale=date(2023, 1, 5),
        referrer_name="张三",
    )
    assert remark == "李四-青苹果-张三"


def test_personal_remark_of_a_new_fan_without_referrer_leaves_the_part_out():
    remark = personal_account_remark(
        fan_name="李四", apple="blossom", lifetime_sales=0, first_sale=None, referrer_name=""
    )
    assert remark == "李四-苹果花"


def test_long_name_is_shortened_to_fit_20_characters_keeping_its_start():
    remark = store_account_remark(
        abbreviation="WXL", fan_name="Alexandrina Victoria", first_date=date(2024, 3, 15)
    )
    assert remark == "WXL-Ale-VIP-20240315"
    assert len(remark) == 20


def test_a_name_that_fits_exactly_is_kept_whole():
    assert store_account_remark(
        abbreviation="WXL", fan_name="张三丰", first_date=date(2024, 3, 15)
    ) == ("WXL-张三丰-VIP-20240315")


def test_a_name_one_character_too_long_loses_its_last_character():
    assert store_account_remark(
        abbreviation="WXL", fan_name="欧阳娜娜", first_date=date(2024, 3, 15)
    ) == ("WXL-欧阳娜-VIP-20240315")


def test_other_parts_are_never_cut():
    remark = personal_account_remark(
        fan_name="张三丰",
        apple="green",
        lifetime_sales=1,
        first_sale=None,
        referrer_name="欧阳娜娜娜娜娜娜娜娜娜娜娜娜娜",
    )
    assert remark == "张-青苹果-欧阳娜娜娜娜娜娜娜娜娜娜娜娜娜"


@override_settings(REMARK_SEPARATOR="_")
def test_separator_comes_from_settings():
    assert (
        store_account_remark(abbreviation="WXL", fan_name="张三", first_date=None) == "WXL_张三_VIP"
    )
    assert parse_remark("WXL_张三_VIP").fan_name == "张三"


def test_parse_store_remark_gives_its_parts():
    parsed = parse_remark("WXL-张三-VIP-20240315")
    assert (parsed.kind, parsed.abbreviation, parsed.fan_name, parsed.first_date) == (
        "store",
        "WXL",
        "张三",
        date(2024, 3, 15),
    )
    assert parsed.ok


def test_parse_personal_remark_with_referrer():
    parsed = parse_remark("李四-青苹果-张三")
    assert (
        parsed.kind,
        parsed.fan_name,
        parsed.apple,
        parsed.referrer_name,
        parsed.first_date,
    ) == (
        "personal",
        "李四",
        "green",
        "张三",
        None,
    )


def test_parse_says_what_it_could_not_parse():
    parsed = parse_remark("小王 同事")
    assert not parsed.ok
    assert "VIP" in parsed.error and "小王 同事" in parsed.error


def test_parse_refuses_an_impossible_date():
    parsed = parse_remark("WXL-张三-VIP-20241345")
    assert not parsed.ok
    assert "20241345" in parsed.error


def test_parse_refuses_an_empty_remark_in_the_active_language():
    with translation.override("en"):
        assert parse_remark("  ").error == "The remark is empty."
    with translation.override("zh-hans"):
        assert parse_remark("  ").error == "备注为空。"


# -- parse(format(x)) == x --------------------------------------------------------------------

names = st.text(
    alphabet=st.characters(
        codec="utf-8", exclude_characters="-", exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp")
    ),
    min_size=1,
    max_size=6,
).filter(lambda s: s == s.strip() and s != "VIP" and s not in APPLE_ZH.values())
# Short enough that nothing is cut (20 characters); shortening is tested above.
fan_names = names.filter(lambda s: len(s) <= 3)
# Empty: a fan without a guide has no abbreviation part.
abbreviations = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=0, max_size=3)
dates = st.one_of(st.none(), st.dates(min_value=date(1950, 1, 1), max_value=date(2099, 12, 31)))


@given(abbreviation=abbreviations, fan_name=fan_names, first_date=dates)
def test_parse_of_a_store_remark_gives_back_its_parts(abbreviation, fan_name, first_date):
    parsed = parse_remark(
        store_account_remark(abbreviation=abbreviation, fan_name=fan_name, first_date=first_date)
    )
    assert (parsed.kind, parsed.abbreviation, parsed.fan_name, parsed.first_date) == (
        "store",
        abbreviation,
        fan_name,
        first_date,
    )


@given(
    fan_name=fan_names,
    apple=st.sampled_from(sorted(APPLE_ZH)),
    lifetime_sales=st.integers(min_value=0, max_value=5),
    first_sale=dates,
    referrer_name=st.one_of(st.just(""), names.filter(lambda s: not (len(s) == 8 and s.isdigit()))),
)
def test_parse_of_a_personal_remark_gives_back_its_parts(
    fan_name, apple, lifetime_sales, first_sale, referrer_name
):
    remark = personal_account_remark(
        fan_name=fan_name,
        apple=apple,
        lifetime_sales=lifetime_sales,
        first_sale=first_sale,
        referrer_name=referrer_name,
    )
    parsed = parse_remark(remark)
    old = lifetime_sales >= 2
    assert (
        parsed.kind,
        parsed.fan_name,
        parsed.apple,
        parsed.first_date,
        parsed.referrer_name,
    ) == (
        "personal",
        fan_name,
        apple,
        first_sale if old else None,
        "" if old else referrer_name,
    )


@given(name=st.text(max_size=8))
def test_abbreviation_is_never_longer_than_the_name_and_never_holds_the_separator(name):
    abbreviation = guide_abbreviation(name)
    assert len(abbreviation) <= len(name.strip())
    assert "-" not in abbreviation


def _datetimes(values: list) -> np.ndarray:
    return np.array([np.datetime64(v, "D") if v else np.datetime64("NaT") for v in values])


any_names = st.text(max_size=30)  # untrimmed, long, empty: every case `_fit` handles
any_dates = st.one_of(st.none(), st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)))


@given(st.lists(st.tuples(abbreviations, any_names, any_dates), max_size=20))
def test_store_account_remarks_are_the_one_by_one_remarks(rows):
    built = store_account_remarks(
        abbreviations=np.array([r[0] for r in rows], dtype=object),
        fan_names=np.array([r[1] for r in rows], dtype=object),
        first_dates=_datetimes([r[2] for r in rows]),
    )
    expected = [store_account_remark(abbreviation=a, fan_name=n, first_date=d) for a, n, d in rows]
    assert list(built) == expected


@given(
    st.lists(
        st.tuples(
            any_names,
            st.sampled_from([*sorted(APPLE_ZH), ""]),
            st.integers(min_value=0, max_value=3),
            any_dates,
            any_names,
        ),
        max_size=20,
    )
)
def test_personal_account_remarks_are_the_one_by_one_remarks(rows):
    built = personal_account_remarks(
        fan_names=np.array([r[0] for r in rows], dtype=object),
        apples=np.array([r[1] for r in rows], dtype=object),
        lifetime_sales=np.array([r[2] for r in rows], dtype=np.int64),
        first_sales=_datetimes([r[3] for r in rows]),
        referrer_names=np.array([r[4] for r in rows], dtype=object),
    )
    expected = [
        personal_account_remark(
            fan_name=n, apple=a, lifetime_sales=k, first_sale=d, referrer_name=r
        )
        for n, a, k, d, r in rows
    ]
    assert list(built) == expected
