"""On PostgreSQL outside a transaction the reasons are generated on two connections at once."""

from datetime import timedelta

import pytest
from django.db import connection

from followups.models import FollowUp, FollowUpRule
from tests.factories import make_customer, make_store, seed_migrated_rows
from tests.followups.helpers import AS_OF, fan_with_labels, generate, run_with_changes

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _postgres_and_rules():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL")
    seed_migrated_rows()  # a transactional test's flush empties the seeded rules


def test_the_reasons_run_side_by_side_and_a_rerun_creates_nothing():
    store = make_store()
    fan_with_labels(store=store, last_sale=AS_OF - timedelta(days=3), frequency=1)
    fan_with_labels(store=store, last_sale=AS_OF - timedelta(days=60), frequency=1)
    dropped = make_customer(store=store)
    run_with_changes((dropped, "r_stage", "active", "sleeping"))

    first = generate()
    again = generate()

    assert (first["after_sale_care"], first["repurchase_nudge"], first["stage_drop"]) == (1, 1, 1)
    assert (
        sum(
            again.get(reason, 0) for reason in FollowUpRule.objects.values_list("reason", flat=True)
        )
        == 0
    )
    assert FollowUp.objects.count() == 3
    assert set(FollowUpRule.objects.values_list("generated_through", flat=True)) == {AS_OF}
