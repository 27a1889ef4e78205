"""import_wechat_contacts: match by phone or by remark, report bad rows, rerun changes nothing."""

from datetime import date

import pytest
from django.core.management import CommandError, call_command
from django.utils import translation

from customers.models import Customer, CustomerLabels
from tests.factories import make_customer


@pytest.fixture(autouse=True)
def english():
    # Tests run in settings.LANGUAGE_CODE (zh-hans); these read the English messages.
    with translation.override("en"):
        yield


def _run(tmp_path, text, *args):
    path = tmp_path / "contacts.csv"
    path.write_text(text, encoding="utf-8")
    call_command("import_wechat_contacts", str(path), *args)


@pytest.fixture
def fans(store, guide):
    zhang = make_customer(
        store=store, guide=guide, name="张三", phone="13900000001", member_since=date(2024, 3, 15)
    )
    li = make_customer(store=store, guide=guide, name="李四", phone="13900000002")
    CustomerLabels.objects.create(customer=li, apple="green", first_sale=date(2023, 1, 5))
    wang = make_customer(store=store, guide=guide, name="王五", phone="13900000003")
    return zhang, li, wang


def test_contacts_are_matched_by_phone_then_by_remark(tmp_path, fans, capsys):
    zhang, li, wang = fans
    _run(
        tmp_path,
        "remark,wechat_id,phone\n"
        "王五 老客户,wx_wang,139 0000 0003\n"
        "WXL-张三-VIP-20240315,wx_zhang,\n"
        "李四-青苹果,wx_li,\n",
    )
    zhang.refresh_from_db(), li.refresh_from_db(), wang.refresh_from_db()
    assert (wang.wechat_remark, wang.wechat_id) == ("王五 老客户", "wx_wang")
    assert (zhang.wechat_remark, zhang.wechat_id) == ("WXL-张三-VIP-20240315", "wx_zhang")
    assert li.wechat_remark == "李四-青苹果"
    assert wang.wechat_remark_recorded_at is not None
    assert "0 created, 3 updated, 0 unchanged, 0 rows with errors." in capsys.readouterr().out


def test_rerunning_the_same_file_changes_nothing(tmp_path, fans, capsys):
    text = "remark,wechat_id,phone\nWXL-张三-VIP-20240315,wx_zhang,\n"
    _run(tmp_path, text)
    recorded_at = Customer.objects.get(name="张三").wechat_remark_recorded_at
    _run(tmp_path, text)
    assert Customer.objects.get(name="张三").wechat_remark_recorded_at == recorded_at
    assert "0 created, 0 updated, 1 unchanged" in capsys.readouterr().out


def test_unmatched_and_bad_rows_are_reported_with_line_numbers_and_good_rows_imported(
    tmp_path, fans, capsys
):
    text = (
        "remark,wechat_id,phone\n"
        "WXL-张三-VIP-20240315,wx_zhang,\n"
        "赵六-红苹果-20200101,wx_zhao,\n"
        "just a nickname,wx_x,\n"
        "WXL-张三-VIP-20240315,wx_zhang2,12345\n"
    )
    with pytest.raises(CommandError, match="3 row"):
        _run(tmp_path, text)
    err = capsys.readouterr().err
    assert "line 3: no fan matches “赵六-红苹果-20200101”" in err
    assert "line 4: remark:" in err
    assert "line 5: phone:" in err
    assert Customer.objects.get(name="张三").wechat_remark == "WXL-张三-VIP-20240315"


def test_remark_of_two_fans_is_told_apart_by_the_guide_abbreviation(tmp_path, fans, store, manager):
    make_customer(store=store, guide=manager, name="张三", member_since=date(2024, 3, 15))
    _run(tmp_path, "remark,wechat_id,phone\nWXL-张三-VIP-20240315,wx,\n")
    assert Customer.objects.get(wechat_remark="WXL-张三-VIP-20240315") == fans[0]


def test_ambiguous_remark_is_not_matched(tmp_path, fans, store, guide, capsys):
    make_customer(store=store, guide=guide, name="张三", member_since=date(2024, 3, 15))
    with pytest.raises(CommandError):
        _run(tmp_path, "remark,wechat_id,phone\nWXL-张三-VIP-20240315,wx,\n")
    assert "2 fans match" in capsys.readouterr().err
    assert not Customer.objects.exclude(wechat_remark="").exists()


def test_dry_run_writes_nothing(tmp_path, fans):
    _run(tmp_path, "remark,wechat_id\nWXL-张三-VIP-20240315,wx_zhang\n", "--dry-run")
    assert Customer.objects.get(name="张三").wechat_remark == ""


def test_store_option_matches_only_that_stores_fans(tmp_path, fans, other_store, capsys):
    with pytest.raises(CommandError):
        _run(tmp_path, "remark,wechat_id,phone\nx,wx,13900000001\n", "--store", other_store.code)
    assert "line 2:" in capsys.readouterr().err


def test_the_phone_column_may_be_left_out(tmp_path, fans, capsys):
    _run(tmp_path, "remark,wechat_id\nWXL-张三-VIP-20240315,wx_zhang\n")
    assert Customer.objects.get(name="张三").wechat_id == "wx_zhang"
    assert "0 created, 1 updated, 0 unchanged, 0 rows with errors." in capsys.readouterr().out


def test_a_file_without_the_wechat_id_column_is_refused(tmp_path, fans):
    with pytest.raises(
        CommandError, match="missing column.s. wechat_id; expected remark,wechat_id$"
    ):
        _run(tmp_path, "remark,phone\nWXL-张三-VIP-20240315,13900000001\n")
