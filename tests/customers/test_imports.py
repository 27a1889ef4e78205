from decimal import Decimal
from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.utils import translation

from customers.csv_import import CsvFileError, CsvRow, Outcome, RowError, apply_rows, read_csv
from customers.models import Staff, Store
from tests.factories import make_staff

STORES_CSV = (
    (
        "code,name,city,address,latitude,longitude\n"
        "S101,杭州湖滨店,杭州,湖滨路1号,30.259000,120.163000\n"
        "S102,上海静安店,上海,,,\n"
        "S103,错店,杭州,,120.1,30.2\n"
    ).encode()
    + b"S104,\xff\xfe\xb5\xea,\xba\xbc\xd6\xdd,,,\n"
    + "S105,北京三里屯店,北京,三里屯路19号,39.934000,116.454000\n".encode()
)

STAFF_CSV = (
    "username,name,store,role,work_number,abbreviation\n"
    "wxl,王小丽,S001,guide,G001,\n"
    "li,李店长,S001,manager,M001,LDZ\n"
    "zb,总部,,hq,H001,\n"
    "ghost,无店,S999,guide,G002,\n"
    "dup,重复工号,S001,guide,G001,\n"
    "boss,老板,S001,owner,O001,\n"
).encode() + b"bad,\xd5\xc5\xc8\xfd,S001,guide,G009,\n"


@pytest.fixture(autouse=True)
def english():
    # Tests run in settings.LANGUAGE_CODE (zh-hans); these read the English messages.
    with translation.override("en"):
        yield


def write(tmp_path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def run(command: str, *args: str) -> tuple[str, str, bool]:
    out, err = StringIO(), StringIO()
    try:
        call_command(command, *args, stdout=out, stderr=err)
    except CommandError:
        return out.getvalue(), err.getvalue(), False
    return out.getvalue(), err.getvalue(), True


def test_import_stores_imports_good_rows_and_reports_bad_ones_by_line(db, tmp_path):
    out, err, ok = run("import_stores", write(tmp_path, "stores.csv", STORES_CSV))
    assert not ok
    assert sorted(Store.objects.values_list("code", flat=True)) == ["S101", "S102", "S105"]
    assert Store.objects.get(code="S101").latitude == Decimal("30.259000")
    assert "line 4: latitude: 120.100000 is outside China" in err
    assert "line 5: not valid UTF-8" in err
    assert "3 created, 0 updated, 0 unchanged, 2 rows with errors" in out


def test_rerunning_import_stores_changes_nothing(db, tmp_path):
    path = write(tmp_path, "stores.csv", STORES_CSV)
    run("import_stores", path)
    before = list(Store.objects.order_by("code").values())
    out, _, _ = run("import_stores", path)
    assert "0 created, 0 updated, 3 unchanged" in out
    assert list(Store.objects.order_by("code").values()) == before


def test_import_stores_updates_a_changed_store(db, tmp_path):
    run("import_stores", write(tmp_path, "a.csv", STORES_CSV))
    changed = "code,name,city,address,latitude,longitude\nS102,上海静安嘉里店,上海,,,\n".encode()
    out, _, ok = run("import_stores", write(tmp_path, "b.csv", changed))
    assert ok and "0 created, 1 updated" in out
    assert Store.objects.get(code="S102").name == "上海静安嘉里店"


def test_import_stores_dry_run_writes_nothing(db, tmp_path):
    out, err, _ = run("import_stores", write(tmp_path, "stores.csv", STORES_CSV), "--dry-run")
    assert Store.objects.count() == 0
    assert "Dry run" in out and "3 created" in out
    assert "line 4:" in err


def test_import_stores_refuses_a_file_without_the_expected_columns(db, tmp_path):
    with pytest.raises(CommandError, match="missing column"):
        call_command(
            "import_stores", write(tmp_path, "x.csv", b"code,name\nS1,x\n"), stdout=StringIO()
        )


def test_import_staff_imports_good_rows_and_reports_each_bad_one_by_line(db, tmp_path):
    Store.objects.create(code="S001", name="门店", city="杭州")
    out, err, ok = run("import_staff", write(tmp_path, "staff.csv", STAFF_CSV))
    assert not ok
    staff = {s.user.username: s for s in Staff.objects.select_related("user", "store")}
    assert sorted(staff) == ["li", "wxl", "zb"]
    assert staff["wxl"].role == "guide" and staff["wxl"].store.code == "S001"
    assert staff["li"].abbreviation == "LDZ"
    assert staff["zb"].store is None and staff["zb"].user.is_staff
    assert 'line 5: store: unknown store "S999"' in err
    assert 'line 6: work_number: "G001" already belongs to wxl' in err
    assert 'line 7: role: "owner" is not one of guide, manager, hq' in err
    assert "line 8: not valid UTF-8" in err
    assert "3 created" in out


def test_import_staff_prints_each_new_random_password_once_and_it_works(db, tmp_path):
    Store.objects.create(code="S001", name="门店", city="杭州")
    out, _, _ = run("import_staff", write(tmp_path, "staff.csv", STAFF_CSV))
    lines = dict(line.split("\t") for line in out.splitlines() if "\t" in line)
    assert sorted(lines) == ["li", "wxl", "zb"]
    assert get_user_model().objects.get(username="wxl").check_password(lines["wxl"])


def test_rerunning_import_staff_changes_nothing_and_keeps_passwords(db, tmp_path):
    Store.objects.create(code="S001", name="门店", city="杭州")
    path = write(tmp_path, "staff.csv", STAFF_CSV)
    run("import_staff", path, "--password", "store-pass-2026")
    out, _, _ = run("import_staff", path)
    assert "0 created, 0 updated, 3 unchanged" in out
    assert "\t" not in out  # no new passwords printed
    assert get_user_model().objects.get(username="wxl").check_password("store-pass-2026")


def test_import_staff_refuses_a_work_number_of_another_user_already_in_the_database(db, tmp_path):
    store = Store.objects.create(code="S001", name="门店", city="杭州")
    make_staff(store=store, work_number="G001", username="old")
    _, err, _ = run("import_staff", write(tmp_path, "staff.csv", STAFF_CSV))
    assert 'line 2: work_number: "G001" already belongs to old' in err


def test_import_staff_dry_run_writes_nothing_and_prints_no_passwords(db, tmp_path):
    Store.objects.create(code="S001", name="门店", city="杭州")
    out, _, _ = run("import_staff", write(tmp_path, "staff.csv", STAFF_CSV), "--dry-run")
    assert Staff.objects.count() == 0 and get_user_model().objects.count() == 0
    assert "\t" not in out and "Dry run" in out


def test_an_hq_row_with_a_store_is_refused(db, tmp_path):
    Store.objects.create(code="S001", name="门店", city="杭州")
    data = "username,name,store,role,work_number,abbreviation\nzb,总部,S001,hq,H001,\n".encode()
    _, err, _ = run("import_staff", write(tmp_path, "s.csv", data))
    assert "line 2: store: must be empty for an hq user" in err


def test_rows_are_numbered_by_their_first_line_even_after_a_quoted_line_break(db):
    data = b'code,name\nS1,"two\nlines"\nS2,\n'
    rows = read_csv(data, columns=("code", "name"))
    assert [(r.line, r["code"]) for r in rows] == [(2, "S1"), (4, "S2")]


def test_a_byte_order_mark_before_the_header_is_ignored(db):
    rows = read_csv("\ufeffcode,name\nS1,x\n".encode(), columns=("code", "name"))
    assert rows == [CsvRow(2, {"code": "S1", "name": "x"})]


def test_apply_rows_rolls_back_only_the_failing_row(db):
    def handler(row: CsvRow) -> Outcome:
        Store.objects.create(code=row["code"], name="x", city="杭州")
        if row["code"] == "S2":
            raise RowError("no")
        return Outcome.CREATED

    rows = read_csv(b"code\nS1\nS2\nS3\n", columns=("code",))
    report = apply_rows(rows, handler)
    assert sorted(Store.objects.values_list("code", flat=True)) == ["S1", "S3"]
    assert report.errors == [(3, "no")] and report.created == 2


def test_a_missing_file_is_a_clear_error(db, tmp_path):
    with pytest.raises(CommandError, match="cannot read"):
        call_command("import_stores", str(tmp_path / "nope.csv"), stdout=StringIO())


def test_a_dry_run_also_catches_a_work_number_used_twice_in_the_file(db, tmp_path):
    Store.objects.create(code="S001", name="门店", city="杭州")
    _, err, _ = run("import_staff", write(tmp_path, "staff.csv", STAFF_CSV), "--dry-run")
    assert 'line 6: work_number: "G001" already belongs to wxl' in err


def test_row_errors_and_the_summary_come_out_in_chinese(db, tmp_path):
    with translation.override("zh-hans"):
        out, err, ok = run("import_stores", write(tmp_path, "stores.csv", STORES_CSV))
    assert not ok
    assert "第 4 行：latitude：120.100000 超出中国范围" in err
    assert "第 5 行：不是有效的 UTF-8 编码" in err
    assert "新建 3 条，更新 0 条，未变 0 条，出错 2 行。" in out


def test_an_optional_column_may_be_left_out_and_reads_as_empty(db):
    rows = read_csv(b"code\nS1\n", columns=("code", "name"), optional=("name",))
    assert rows == [CsvRow(2, {"code": "S1", "name": ""})]


def test_a_missing_column_that_is_not_optional_still_stops_the_file(db):
    with pytest.raises(CsvFileError, match="missing column.s. code; expected code$"):
        read_csv(b"name\nx\n", columns=("code", "name"), optional=("name",))
