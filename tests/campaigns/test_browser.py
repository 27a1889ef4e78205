"""A manager builds an audience in the browser, sees the count and the removals, saves the
event and downloads the contact list as XLSX (Debian's Chromium through Playwright)."""

import io
import os
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.test import Client
from django.utils import timezone
from openpyxl import load_workbook

from campaigns.models import AudienceMember, Campaign
from tests.campaigns.helpers import contacted_before, make_fan
from tests.factories import seed_migrated_rows
from tests.web.helpers import CHROMIUM

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
try:
    from playwright import sync_api as playwright_sync
except ImportError:  # tests/conftest.py skips browser tests then (fails them in CI)
    playwright_sync = None

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@pytest.fixture(scope="module", autouse=True)
def _migrated_rows_after_the_flush(django_db_blocker):
    """A transactional test ends with a flush that also empties the tables the data migrations
    filled (tag taxonomy, playbooks): put them back for the tests that follow."""
    yield
    with django_db_blocker.unblock():
        seed_migrated_rows()


@pytest.fixture
def page(live_server):
    with playwright_sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        context = browser.new_context(accept_downloads=True, locale="en-US")
        yield context, context.new_page()
        context.close()
        browser.close()


def sign_in(context, live_server, user) -> None:
    client = Client()
    client.force_login(user)
    cookie = client.cookies[django_settings.SESSION_COOKIE_NAME]
    context.add_cookies(
        [
            {
                "name": django_settings.SESSION_COOKIE_NAME,
                "value": cookie.value,
                "url": live_server.url,
            }
        ]
    )


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_manager_builds_an_audience_saves_it_and_downloads_the_xlsx(
    page, live_server, manager, guide, store, settings
):
    context, tab = page
    seed_migrated_rows()  # an earlier transactional test may have flushed them
    settings.CAMPAIGN_CONTACT_CAP = 1
    near = {"distance": "within_3km"}
    red = make_fan(store=store, guide=guide, name="红一", apple="red", **near)
    yellow = make_fan(
        store=store, guide=guide, name="黄二", apple="yellow", r_stage="pre_churn", **near
    )
    make_fan(store=store, guide=guide, name="睡三", apple="yellow", r_stage="sleeping", **near)
    make_fan(store=store, guide=guide, name="绿四", apple="green", **near)
    make_fan(store=store, guide=guide, name="远五", apple="red", distance="beyond_3km")
    make_fan(store=store, guide=guide, name="静六", apple="red", do_not_contact=True, **near)
    busy = make_fan(store=store, guide=guide, name="忙七", apple="red", **near)
    contacted_before(busy, frozen_at=timezone.now() - timedelta(days=3), code="last-week")
    sign_in(context, live_server, manager.user)

    tab.goto(f"{live_server.url}/campaigns/new/")
    tab.fill("#id_code", "spring-show")
    tab.fill("#id_name", "春季新品会")
    tab.select_option("#id_kind", "offline")
    tab.check(f"input[name=stores][value={store.code}]")
    tab.fill("#id_starts_on", "2026-03-05")
    tab.fill("#id_ends_on", "2026-03-08")
    tab.fill("#id_holdout_percent", "0")
    tab.fill("#id_message_template", "{name}，周六新品会见！")
    tab.click("[data-testid=create-campaign]")
    tab.wait_for_url(f"{live_server.url}/campaigns/spring-show/")

    tab.select_option("select[name=all]", ["distance:within_3km"])
    tab.select_option("select[name=any]", ["apple:red", "apple:yellow"])
    tab.select_option("select[name=none]", ["r_stage:sleeping"])
    matched = tab.locator("[data-testid=count-matched]")
    playwright_sync.expect(matched).to_have_text("4")
    playwright_sync.expect(tab.locator("[data-testid=removed-contact_cap]")).to_have_text("1")
    playwright_sync.expect(tab.locator("[data-testid=removed-opted_out]")).to_have_text("1")
    playwright_sync.expect(tab.locator("[data-testid=count-contacts]")).to_have_text("2")

    tab.click("[data-testid=freeze]")
    playwright_sync.expect(tab.locator("[data-testid=frozen-contacts]")).to_have_text("2")
    campaign = Campaign.objects.get(code="spring-show")
    assert set(
        AudienceMember.objects.filter(campaign=campaign).values_list("customer_id", flat=True)
    ) == {
        red.pk,
        yellow.pk,
    }

    with tab.expect_download() as download_info:
        tab.click("[data-testid=export-xlsx]")
    workbook = load_workbook(io.BytesIO(download_info.value.path().read_bytes()))
    rows = list(workbook.active.iter_rows(values_only=True))
    header, body = rows[0], [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]
    assert "remark_store_account" in header
    assert sorted(row["name"] for row in body) == ["红一", "黄二"]
    assert {row["message"] for row in body} == {"红一，周六新品会见！", "黄二，周六新品会见！"}
    assert {row["guide_name"] for row in body} == {guide.name}
