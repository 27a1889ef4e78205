"""Personas for tenancy tests: Alice works at `store`, Charlie at another store."""

import pytest

from customers.models import Staff, Store
from tests.factories import make_staff, make_store


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
