"""Screenshots of the guide and manager pages, in Chinese, phone and desktop: `make screenshots`.

Builds a demo database (SQLite in /tmp unless DATABASE_URL is given), serves it with the
development server and drives Debian's Chromium through Playwright. Never downloads a browser.

    .venv/bin/python tests/web/screenshots.py [--out docs/screenshots] [--fresh]
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYTHON = sys.executable
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
PHONE = {"width": 375, "height": 812}
DESKTOP = {"width": 1280, "height": 900}
PASSWORD = "fanops-demo"
MAX_HEIGHT = 2400  # CSS px: a long worklist is shown by its first screens


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _manage(env: dict, *args: str) -> None:
    subprocess.run([PYTHON, "manage.py", *args], cwd=ROOT, env=env, check=True)


def _prepare(env: dict, db_path: Path | None, fresh: bool) -> None:
    if db_path is not None and fresh and db_path.exists():
        db_path.unlink()
    # System checks are CI's job (`check --deploy`); screenshots only need the pages.
    _manage(env, "migrate", "--noinput", "-v0", "--skip-checks")
    _manage(
        env,
        "seed_demo",
        "--stores",
        "3",
        "--customers",
        "1500",
        "--orders",
        "9000",
        "--seed",
        "7",
        "--if-empty",
        "--no-progress",
        "--skip-checks",
    )
    # Two runs 45 days apart, so Today has fans that fell asleep and apples that went up.
    from datetime import datetime, timedelta
    from zoneinfo import ZoneInfo

    today = datetime.now(ZoneInfo(env.get("TIME_ZONE", "Asia/Shanghai"))).date()
    earlier = (today - timedelta(days=45)).isoformat()
    _manage(env, "relabel", "--as-of", earlier)
    _manage(env, "relabel")
    # A few hand-made touches so the fan card shows tags and a complete profile.
    _manage(env, "shell", "-c", DEMO_TOUCHES)


DEMO_TOUCHES = """
from customers.models import Customer, Staff
from tagging.services import change_tags
guide = Staff.objects.get(user__username="s001.g1")
fans = list(Customer.objects.filter(guide=guide).order_by("-id")[:12])
picks = [["style:business", "profession:white_collar", "attention:new_arrivals"],
         ["style:urban_nature", "profession:teacher"], ["style:cotton_linen_art", "attention:activities"]]
for i, fan in enumerate(fans):
    try:
        change_tags(customer=fan, add=picks[i % 3], by=guide)
    except Exception as exc:
        print("tag", exc)
fan = fans[0]
fan.consumption_notes = fan.consumption_notes or "偏爱真丝连衣裙，换季会来店里试新款"
fan.body_shape = fan.body_shape or "沙漏型"
fan.height_cm = fan.height_cm or 163
fan.skin_tone = fan.skin_tone or "暖白"
if not fan.birth_calendar:
    fan.birth_calendar, fan.birth_month, fan.birth_day = "lunar", 8, 15
fan.save()
from customers.models import CustomerLabels
for labels in CustomerLabels.objects.filter(customer__guide=guide).exclude(remark_store_account="").select_related("customer")[:4]:
    Customer.objects.filter(pk=labels.customer_id).update(wechat_remark=labels.customer.name)
"""


def _wait(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2)  # noqa: S310 - local dev server
            return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"server did not answer at {url}")


def _login(page, base: str, username: str) -> None:
    page.goto(f"{base}/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit].btn-primary")
    page.wait_for_load_state("networkidle")


def _shoot(browser, base: str, out: Path, username: str, shots: list[tuple[str, str]]) -> None:
    for device, viewport in (("phone", PHONE), ("desktop", DESKTOP)):
        context = browser.new_context(
            viewport=viewport,
            device_scale_factor=2 if device == "phone" else 1,
            locale="zh-CN",
            is_mobile=device == "phone",
            has_touch=device == "phone",
        )
        page = context.new_page()
        _login(page, base, username)
        for name, path in shots:
            if path == "FIRST_FAN":
                page.goto(f"{base}/fans/")
                page.locator("[data-testid=fan-row]").first.click()
            else:
                page.goto(f"{base}{path}")
            page.wait_for_load_state("networkidle")
            page.wait_for_timeout(300)
            scroll = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            if scroll > 0:
                print(f"warning: {name} on {device} scrolls sideways by {scroll}px")
            target = out / f"{name}-{device}.png"
            width = page.viewport_size["width"]
            height = min(page.evaluate("document.documentElement.scrollHeight"), MAX_HEIGHT)
            clip = {"x": 0, "y": 0, "width": width, "height": height}
            page.screenshot(path=str(target), full_page=True, clip=clip)
            print(f"saved {target}")
        context.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    parser.add_argument("--fresh", action="store_true", help="rebuild the demo database first")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    env = {**os.environ, "DEBUG": "1", "LANGUAGE_CODE": "zh-hans"}
    db_path = None
    if not env.get("DATABASE_URL"):
        db_path = Path("/tmp/fanops_screenshots.sqlite3")
        env["DATABASE_URL"] = f"sqlite:///{db_path}"
    _prepare(env, db_path, args.fresh)

    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [PYTHON, "manage.py", "runserver", f"127.0.0.1:{port}", "--noreload", "--skip-checks"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait(f"{base}/accounts/login/")
        from playwright.sync_api import sync_playwright

        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM,
                args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
            )
            _shoot(
                browser,
                base,
                out,
                "s001.g1",
                [("my-fans", "/fans/"), ("fan-card", "FIRST_FAN"), ("today", "/today/")],
            )
            _shoot(browser, base, out, "s001.mgr", [("dashboard", "/dashboard/")])
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    main()
