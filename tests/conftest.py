"""Personas for tenancy tests: Alice works at `store`, Charlie at another store.

Browser tests (marker `browser`) need Playwright and Debian's Chromium: where either is missing
they are skipped with the reason, so `make test` passes on a fresh machine; with
`FANOPS_REQUIRE_BROWSER=1` (CI, `.ci/run`) a missing browser fails them instead.
"""

import os

import pytest

from customers.models import Staff, Store
from tests.factories import make_staff, make_store
from tests.web.helpers import browser_missing


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "hostile_exports: exports of hostile values are inert (needs the export fix of issue 12)",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    if item.get_closest_marker("browser") is None:
        return
    missing = browser_missing()
    if not missing:
        return
    if os.environ.get("FANOPS_REQUIRE_BROWSER") == "1":
        pytest.fail(f"FANOPS_REQUIRE_BROWSER=1 but {missing}", pytrace=False)
    pytest.skip(f"browser test: {missing}")


@pytest.fixture
def store(db) -> Store:
    return make_store()


@pytest.fixture
def other_store(db) -> Store:
    return make_store()


@pytest.fixture
def guide(store) -> Staff:
    return make_staff(store=store, role=Staff.Role.GUIDE, name="王小丽")


@pytest.fixture
def manager(store) -> Staff:
    return make_staff(store=store, role=Staff.Role.MANAGER, name="李店长")


@pytest.fixture
def hq(db) -> Staff:
    return make_staff(role=Staff.Role.HQ, name="总部")


@pytest.fixture
def other_store_guide(other_store) -> Staff:
    return make_staff(store=other_store, role=Staff.Role.GUIDE, name="查理")
