"""A guide works through her Today worklist on a 375 px phone (Playwright, Debian's Chromium)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from followups.models import FollowUp
from tests.factories import make_customer, seed_migrated_rows
from tests.followups.test_api import follow_up_of
from tests.web.test_browser import browser, no_sideways_scroll, phone, sign_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
__all__ = ["browser", "phone"]  # fixtures


@pytest.fixture(autouse=True)
def _vocabulary(transactional_db):
    seed_migrated_rows()


def test_a_guide_completes_snoozes_and_skips_follow_ups_from_today(phone, guide):
    store = guide.store
    done, later, skipped = (
        follow_up_of(make_customer(store=store, guide=guide, name=name), guide, reason=reason)
        for name, reason in (
            ("张三", "after_sale_care"),
            ("李四", "birthday"),
            ("王五", "stage_drop"),
        )
    )
    sign_in(phone, guide)
    phone.goto("/today/")
    assert phone.locator('[data-testid="follow-up"]').count() == 3
    assert no_sideways_scroll(phone)

    row = phone.locator(f"#follow-up-{done.pk}")
    row.locator("select[name=channel]").select_option("phone")
    row.get_by_role("button", name="完成").click()
    phone.locator(f"#follow-up-{done.pk} [data-testid=follow-up-state]").wait_for()

    row = phone.locator(f"#follow-up-{later.pk}")
    row.locator("summary").click()
    row.get_by_role("button", name="3 天").click()
    phone.locator(f"#follow-up-{later.pk}.status-snoozed").wait_for()

    row = phone.locator(f"#follow-up-{skipped.pk}")
    row.locator("summary").click()
    row.locator("input[name=reason]").fill("她昨天刚来过")
    row.get_by_role("button", name="跳过").click()
    phone.locator(f"#follow-up-{skipped.pk} [data-testid=follow-up-state]").wait_for()

    states = {f.pk: (f.status, f.channel) for f in FollowUp.objects.all()}
    assert states == {
        done.pk: ("done", "phone"),
        later.pk: ("snoozed", ""),
        skipped.pk: ("skipped", ""),
    }
    assert FollowUp.objects.get(pk=later.pk).snoozed_until == timezone.localdate() + timedelta(
        days=3
    )
    assert no_sideways_scroll(phone)
