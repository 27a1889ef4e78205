from datetime import date

from campaigns.services import check_in
from campaigns.tasks import refresh_event_tags
from tagging.models import CustomerTag
from tests.campaigns.helpers import NOW, make_campaign, make_fan
from tests.factories import aware_dt, make_order


def test_nightly_refresh_tags_buyers_of_running_and_recently_ended_events_only(store):
    recent_fan, old_fan = make_fan(store=store), make_fan(store=store)
    recent = make_campaign(
        stores=[store], code="recent", starts_on=date(2026, 3, 5), ends_on=date(2026, 3, 8)
    )
    old = make_campaign(
        stores=[store], code="old", starts_on=date(2026, 1, 5), ends_on=date(2026, 1, 8)
    )
    check_in(campaign=recent, customer=recent_fan, now=NOW)
    check_in(campaign=old, customer=old_fan, now=NOW)
    make_order(customer=recent_fan, store=store, paid_at=aware_dt(2026, 3, 6))
    make_order(customer=old_fan, store=store, paid_at=aware_dt(2026, 1, 6))

    assert refresh_event_tags("2026-03-15") == 1  # ended 7 days ago: still refreshed

    transacted = set(
        CustomerTag.objects.filter(tag__group__code="transacted").values_list(
            "tag__code", flat=True
        )
    )
    assert transacted == {"recent"}
