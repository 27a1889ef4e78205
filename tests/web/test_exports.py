"""Spreadsheet exports hold no live formula: the HQ fan list and the campaign contact lists."""

from __future__ import annotations

import csv
import io
import zipfile

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from campaigns.services import freeze_audience
from tests.campaigns.helpers import NOW, make_campaign
from tests.campaigns.helpers import make_fan as make_campaign_fan
from tests.web.helpers import make_fan
from web.exports import inert

pytestmark = pytest.mark.django_db

HOSTILE_NAMES = ['=HYPERLINK("http://x","y")', "+cmd", "-2+3", "@SUM(1)", "\tTab", "\rReturn"]


def _csv_rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))


def _xlsx_cells(body: bytes) -> list[dict]:
    """Every data row as {column: cell}, after checking that the sheet holds no formula at all."""
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        sheets = [n for n in archive.namelist() if n.startswith("xl/worksheets/")]
        assert all(b"<f>" not in archive.read(name) for name in sheets)
    rows = list(load_workbook(io.BytesIO(body)).active.iter_rows())
    header = [cell.value for cell in rows[0]]
    return [dict(zip(header, row, strict=True)) for row in rows[1:]]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_inert_prefixes_a_quote_to_text_a_spreadsheet_would_evaluate(name):
    assert inert(name) == "'" + name


@pytest.mark.parametrize("text", ["张三", "WXL-张三-VIP", "13812345678", "", "a=b", "1-2"])
def test_inert_leaves_ordinary_text_alone(text):
    assert inert(text) == text


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hq_csv_export_writes_a_formula_like_name_as_text(client, hq, store, name):
    make_fan(store=store, name=name)
    client.force_login(hq.user)
    response = client.get(reverse("segmentation:export_csv"))
    text = b"".join(response.streaming_content).decode("utf-8")
    assert [row["name"] for row in _csv_rows(text)] == ["'" + name]


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_hq_xlsx_export_writes_a_formula_like_name_as_a_string_cell(client, hq, store, name):
    make_fan(store=store, name=name)
    client.force_login(hq.user)
    response = client.get(reverse("segmentation:export_xlsx"))
    (row,) = _xlsx_cells(b"".join(response.streaming_content))
    assert (row["name"].value, row["name"].data_type) == (_as_read_back(name), "s")


def _as_read_back(text: str) -> str:
    return text.replace("\r", "\n")  # an XML reader turns a bare CR into LF


def _event_with(store, guide, name: str):
    campaign = make_campaign(stores=[store], message_template="{name}，周六见！")
    make_campaign_fan(store=store, guide=guide, name=name)
    freeze_audience(campaign=campaign, audience={}, now=NOW)
    return campaign


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_campaign_csv_contact_list_writes_a_formula_like_name_as_text(
    client, manager, guide, store, name
):
    campaign = _event_with(store, guide, name)
    client.force_login(manager.user)
    response = client.get(reverse("campaigns:export", args=[campaign.code, "csv"]))
    (row,) = _csv_rows(response.content.decode("utf-8"))
    assert (row["name"], row["message"]) == ("'" + name, f"'{name}，周六见！")


@pytest.mark.parametrize("name", HOSTILE_NAMES)
def test_campaign_xlsx_contact_list_writes_a_formula_like_name_as_a_string_cell(
    client, manager, guide, store, name
):
    campaign = _event_with(store, guide, name)
    client.force_login(manager.user)
    response = client.get(reverse("campaigns:export", args=[campaign.code, "xlsx"]))
    (row,) = _xlsx_cells(response.content)
    assert (row["name"].value, row["name"].data_type) == (_as_read_back(name), "s")
    message = _as_read_back(f"{name}，周六见！")
    assert (row["message"].value, row["message"].data_type) == (message, "s")
    assert row["customer_id"].data_type == "n"  # numbers stay numbers
