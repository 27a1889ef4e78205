"""`import_customers` and `import_orders`: the API's rules, row-level errors, dry runs, reruns."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.utils import translation

from customers.models import Customer, CustomerLabels, Order
from tests.factories import make_customer, make_order, make_staff

CUSTOMER_HEADER = (
    "phone,name,gender,store,guide,birthday_calendar,birthday_year,birthday_month,birthday_day,"
    "birthday_is_leap_month,city,latitude,longitude,referrer_phone,member_since,is_opinion_leader\n"
)

ORDER_HEADER = "external_id,store,phone,guide,paid_at,amount,kind,refund_of,payment_method\n"


@pytest.fixture(autouse=True)
def english():
    """These tests read the commands' English output (the default language is zh-hans)."""
    with translation.override("en"):
        yield


def write(tmp_path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return str(path)


def run(command: str, path: str, *args: str) -> tuple[str, str, bool]:
    out, err = StringIO(), StringIO()
    try:
        call_command(command, path, "--no-progress", *args, stdout=out, stderr=err)
    except CommandError:
        return out.getvalue(), err.getvalue(), False
    return out.getvalue(), err.getvalue(), True


# --- orders --------------------------------------------------------------------------------------


def test_import_orders_writes_good_rows_and_reports_bad_ones_by_line(tmp_path, store):
    path = write(
        tmp_path,
        "orders.csv",
        ORDER_HEADER
        + f"A1,{store.code},13800138000,,2026-01-15T14:30:00+08:00,599.00,sale,,card\n"
        + f"A2,{store.code},13800138000,,2026-01-15T14:30:00+08:00,-1,sale,,card\n"
        + f"A3,{store.code},138001380001,,2026-01-15T14:30:00+08:00,5.00,sale,,card\n"
        + f"A4,{store.code},13800138000,,2026-01-15T14:30:00,5.00,sale,,card\n"
        + "A5,S999,13800138000,,2026-01-15T14:30:00+08:00,5.00,sale,,card\n"
        + f"R1,{store.code},13800138000,,2026-01-16T10:00:00+08:00,100.00,refund,A1,card\n",
    )
    out, err, ok = run("import_orders", path)
    assert not ok
    assert "line 3: amount:" in err
    assert "line 4: phone:" in err
    assert "138001380001" not in err
    assert "line 5: paid_at:" in err
    assert "line 6: store:" in err
    assert "2 created" in out
    refund = Order.objects.get(external_id="R1")
    assert refund.refund_of == Order.objects.get(external_id="A1")
    assert refund.channel == "import"
    fan = Customer.objects.get(phone="13800138000")
    assert fan.store == store
    assert CustomerLabels.objects.filter(customer=fan).exists()


def test_rerunning_an_order_file_changes_nothing(tmp_path, store):
    path = write(
        tmp_path,
        "orders.csv",
        ORDER_HEADER + f"A1,{store.code},13800138000,,2026-01-15T14:30:00+08:00,599.00,,,\n",
    )
    assert run("import_orders", path)[2]
    out, _err, ok = run("import_orders", path)
    assert ok and "0 created, 0 updated, 1 unchanged" in out
    assert Order.objects.count() == 1


def test_an_imported_external_id_with_other_content_is_a_row_error(tmp_path, store):
    make_order(
        customer=make_customer(store=store, phone="13800138000"), external_id="A1", amount="1.00"
    )
    path = write(
        tmp_path,
        "orders.csv",
        ORDER_HEADER + f"A1,{store.code},13800138000,,2026-01-15T14:30:00+08:00,599.00,,,\n",
    )
    _out, err, ok = run("import_orders", path)
    assert not ok and "line 2: external_id" in err


def test_a_refund_exceeding_its_sale_is_a_row_error(tmp_path, store):
    path = write(
        tmp_path,
        "orders.csv",
        ORDER_HEADER
        + f"A1,{store.code},13800138000,,2026-01-15T14:30:00+08:00,100.00,sale,,\n"
        + f"R1,{store.code},13800138000,,2026-01-16T14:30:00+08:00,60.00,refund,A1,\n"
        + f"R2,{store.code},13800138000,,2026-01-16T15:30:00+08:00,40.01,refund,A1,\n",
    )
    _out, err, ok = run("import_orders", path)
    assert not ok and "line 4: amount" in err
    assert Order.objects.filter(kind="refund").count() == 1


def test_a_guide_must_work_at_the_rows_store(tmp_path, store, other_store_guide, guide):
    path = write(
        tmp_path,
        "orders.csv",
        ORDER_HEADER
        + f"A1,{store.code},13800138000,{other_store_guide.work_number},2026-01-15T14:30:00+08:00,1.00,,,\n"
        + f"A2,{store.code},13800138000,{guide.work_number},2026-01-15T14:30:00+08:00,1.00,,,\n",
    )
    _out, err, ok = run("import_orders", path)
    assert not ok and "line 2: guide" in err
    assert Order.objects.get().guide == guide


def test_a_dry_run_of_orders_writes_nothing(tmp_path, store):
    path = write(
        tmp_path,
        "orders.csv",
        ORDER_HEADER + f"A1,{store.code},13800138000,,2026-01-15T14:30:00+08:00,1.00,,,\n",
    )
    out, _err, ok = run("import_orders", path, "--dry-run")
    assert ok and "Dry run" in out and "1 created" in out
    assert not Order.objects.exists() and not Customer.objects.exists()


def test_orders_spanning_several_chunks_are_all_written(tmp_path, store, monkeypatch):
    from customers.management.commands import import_orders

    monkeypatch.setattr(import_orders, "CHUNK", 7)
    lines = [
        f"A{n},{store.code},1380013{n:04d},,2026-01-15T14:30:00+08:00,1.00,,," for n in range(30)
    ]
    lines.append(f"R1,{store.code},13800130001,,2026-01-16T14:30:00+08:00,1.00,refund,A1,")
    out, _err, ok = run(
        "import_orders", write(tmp_path, "o.csv", ORDER_HEADER + "\n".join(lines) + "\n")
    )
    assert ok and "31 created" in out
    assert Order.objects.count() == 31 and Customer.objects.count() == 30


def test_a_missing_column_stops_the_whole_file(tmp_path, db):
    with pytest.raises(CommandError, match="missing column"):
        call_command(
            "import_orders",
            write(tmp_path, "o.csv", "external_id,store\nA1,S001\n"),
            "--no-progress",
        )


# --- customers -----------------------------------------------------------------------------------


def test_import_customers_creates_fans_with_fact_labels_and_referrers(tmp_path, store, guide):
    path = write(
        tmp_path,
        "fans.csv",
        CUSTOMER_HEADER
        + f"13800138000,张三,f,{store.code},{guide.work_number},gregorian,1990,7,23,0,杭州,,,13900139000,2024-03-15,0\n"
        + f"13900139000,李四,,{store.code},,,,,,,,,,,,1\n",
    )
    out, err, ok = run("import_customers", path)
    assert ok, err
    assert "2 created" in out
    zhang = Customer.objects.get(phone="13800138000")
    assert (zhang.guide, zhang.zodiac, zhang.birthday_month) == (guide, "leo", "m07")
    assert zhang.referrer.phone == "13900139000"
    assert CustomerLabels.objects.get(customer__phone="13900139000").apple == "golden"


def test_bad_customer_rows_are_reported_by_line_and_good_ones_imported(
    tmp_path, store, other_store_guide
):
    path = write(
        tmp_path,
        "fans.csv",
        CUSTOMER_HEADER
        + f"13800138000,张三,f,{store.code},,,,,,,,,,,,\n"
        + f"1380013800,王五,f,{store.code},,,,,,,,,,,,\n"
        + f"13700137000,赵六,x,{store.code},,,,,,,,,,,,\n"
        + f"13600136000,钱七,,{store.code},,lunar,2023,1,30,0,,,,,,\n"
        + f"13500135000,孙八,,{store.code},{other_store_guide.work_number},,,,,,,,,,,\n"
        + f"13400134000,周九,,{store.code},,,,,,,,,,13300133000,,\n",
    )
    _out, err, ok = run("import_customers", path)
    assert not ok
    for line, column in [
        (3, "phone"),
        (4, "gender"),
        (5, "birth_day"),
        (6, "guide"),
        (7, "referrer_phone"),
    ]:
        assert f"line {line}: {column}" in err, err
    assert list(Customer.objects.values_list("phone", flat=True)) == ["13800138000"]


def test_rerunning_a_customer_file_changes_nothing_and_a_changed_row_updates(tmp_path, store):
    row = f"13800138000,张三,f,{store.code},,,,,,,杭州,,,,,0\n"
    path = write(tmp_path, "fans.csv", CUSTOMER_HEADER + row)
    assert run("import_customers", path)[2]
    out, _err, _ok = run("import_customers", path)
    assert "0 created, 0 updated, 1 unchanged" in out
    path = write(tmp_path, "fans2.csv", CUSTOMER_HEADER + row.replace("杭州", "上海"))
    out, _err, _ok = run("import_customers", path)
    assert "0 created, 1 updated" in out
    assert Customer.objects.get().city == "上海"


def test_a_dry_run_of_customers_writes_nothing(tmp_path, store):
    path = write(
        tmp_path, "fans.csv", CUSTOMER_HEADER + f"13800138000,张三,f,{store.code},,,,,,,,,,,,\n"
    )
    out, _err, ok = run("import_customers", path, "--dry-run")
    assert ok and "Dry run" in out
    assert not Customer.objects.exists()


def test_an_existing_fans_guide_is_kept_in_step_with_the_file(tmp_path, store):
    guide = make_staff(store=store)
    make_customer(store=store, phone="13800138000", name="张三")
    path = write(
        tmp_path,
        "fans.csv",
        CUSTOMER_HEADER + f"13800138000,张三,,{store.code},{guide.work_number},,,,,,,,,,,\n",
    )
    assert run("import_customers", path)[2]
    assert Customer.objects.get().guide == guide
