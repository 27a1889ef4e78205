"""Real-browser tests: Playwright drives Debian's Chromium (/usr/bin/chromium; never downloaded)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from customers.models import Staff
from tagging.models import CustomerTag
from tests.factories import make_staff, seed_migrated_rows
from tests.web.helpers import make_fan

# Playwright's sync API runs an event loop in this thread; the ORM calls here are plain test code.
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
PASSWORD = "pass-1234-word"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture(autouse=True)
def _vocabulary(transactional_db):
    # The taxonomy comes from a data migration; an earlier transactional test's flush empties it.
    seed_migrated_rows()


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium not found at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        chromium = pw.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def phone(browser, live_server):
    context = browser.new_context(
        viewport={"width": 375, "height": 812},
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
        base_url=live_server.url,
    )
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def sign_in(page, staff: Staff) -> None:
    page.goto("/accounts/login/")
    page.fill("#id_username", staff.user.username)
    page.fill("#id_password", PASSWORD)
    page.click("form button[type=submit].btn-primary")
    page.wait_for_load_state("networkidle")


def no_sideways_scroll(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_guide_finds_a_fan_tags_her_copies_the_remark_and_signs_out(phone, guide):
    fan = make_fan(
        store=guide.store,
        guide=guide,
        name="张三",
        phone="13912345678",
        remark_store="WXL-张三-VIP-20240315",
    )
    make_fan(store=guide.store, guide=guide, name="李四", phone="13900001111")
    from tagging.services import change_tags

    change_tags(customer=fan, add=["profession:teacher"], by=guide)

    sign_in(phone, guide)
    assert phone.url.endswith("/fans/")
    assert no_sideways_scroll(phone)

    phone.fill("[data-testid=search]", "5678")
    phone.locator("[data-testid=fan-row]", has_text="张三").wait_for()
    phone.wait_for_function("document.querySelectorAll('[data-testid=fan-row]').length === 1")
    phone.locator("[data-testid=fan-row]", has_text="张三").click()
    phone.wait_for_url(f"**/fans/{fan.pk}/")
    assert no_sideways_scroll(phone)

    phone.click("button[data-tag='style:business']")
    phone.wait_for_selector("button[data-tag='style:business'][aria-pressed=true]")
    phone.click("button[data-tag='profession:bank']")
    phone.wait_for_selector("button[data-tag='profession:bank'][aria-pressed=true]")
    assert phone.get_attribute("button[data-tag='profession:teacher']", "aria-pressed") == "false"

    phone.click("[data-testid=copy-store]")
    phone.wait_for_function(
        "document.querySelector('[data-testid=copy-store]').textContent !== '复制' && document.querySelector('[data-testid=copy-store]').textContent !== 'Copy'"
    )
    assert phone.evaluate("navigator.clipboard.readText()") == "WXL-张三-VIP-20240315"

    phone.click("[data-testid=logout]")
    phone.wait_for_url("**/accounts/login/")

    codes = set(
        CustomerTag.objects.filter(customer=fan).values_list("tag__group__code", "tag__code")
    )
    assert codes == {("style", "business"), ("profession", "bank")}


def test_tap_targets_on_my_fans_and_the_fan_card_are_at_least_44px_high(phone, guide):
    fan = make_fan(store=guide.store, guide=guide, name="王五", remark_store="WXL-王五")
    sign_in(phone, guide)
    phone.click(".filters summary")
    targets = "main a, main button, main summary, .topbar a, .topbar button"
    script = "els => els.filter(e => e.offsetParent !== null).map(e => [e.textContent.trim(), e.getBoundingClientRect().height])"
    sizes = phone.eval_on_selector_all(targets, script)
    assert len(sizes) > 20  # chips, rows, search, navigation
    assert [t for t in sizes if t[1] < 44] == []
    phone.goto(f"/fans/{fan.pk}/")
    small = [t for t in phone.eval_on_selector_all(targets, script) if t[1] < 44]
    assert small == []


def test_manager_sees_the_quota_bars(phone, manager):
    make_fan(store=manager.store, apple="red")
    sign_in(phone, manager)
    assert phone.url.endswith("/dashboard/")
    bars = phone.locator("[data-testid=quota-bars] .bar-row")
    assert bars.count() == 5
    assert phone.locator("[data-apple=red]").inner_text().strip().endswith("1 / 1")
    phone.wait_for_function(
        "window.Chart && Chart.getChart(document.getElementById('quota-chart'))"
    )
    assert no_sideways_scroll(phone)


def test_a_guide_of_another_store_gets_404_on_the_fans_url(phone, guide, other_store):
    fan = make_fan(store=guide.store, guide=guide, name="张三")
    stranger = make_staff(store=other_store, role=Staff.Role.GUIDE)
    sign_in(phone, stranger)
    response = phone.goto(f"/fans/{fan.pk}/")
    assert response.status == 404
    assert "张三" not in phone.content()


def test_names_with_html_are_shown_as_text(phone, guide):
    make_fan(store=guide.store, guide=guide, name="<img src=x onerror=alert(1)>")
    sign_in(phone, guide)
    row = phone.locator("[data-testid=fan-row] .name").first
    assert row.inner_text() == "<img src=x onerror=alert(1)>"
    assert phone.locator("img[src=x]").count() == 0


def test_a_filter_chip_and_a_search_combine_without_reloading(phone, guide):
    make_fan(store=guide.store, guide=guide, name="红苹果甲", apple="red", phone="13911112222")
    make_fan(store=guide.store, guide=guide, name="青苹果乙", apple="green", phone="13933332222")
    make_fan(store=guide.store, guide=guide, name="红苹果丙", apple="red", phone="13955556666")
    sign_in(phone, guide)
    phone.evaluate("window.__sameDocument = true")
    phone.locator(".chip-row a.chip", has_text="红苹果").click()
    phone.wait_for_function("document.querySelectorAll('[data-testid=fan-row]').length === 2")
    phone.fill("[data-testid=search]", "2222")
    phone.wait_for_function("document.querySelectorAll('[data-testid=fan-row]').length === 1")
    assert "红苹果甲" in phone.locator("[data-testid=fan-row]").inner_text()
    assert phone.evaluate("window.__sameDocument") is True
    assert "apple=red" in phone.url and "q=2222" in phone.url
