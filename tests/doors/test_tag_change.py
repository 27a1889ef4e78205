"""A tag change (`{add, remove}`) is one schema (`tagging.schemas.TagChangeSchema`) at every door:
the API for one fan, the bulk API and the fan card's chips."""

from django.contrib.messages import get_messages

from tagging.models import CustomerTag
from tests.doors.test_one_door import staff_api
from tests.factories import make_customer

NOT_A_REF = "“business” is not a tag reference shaped group:code."


def test_a_malformed_tag_is_refused_alike_by_the_api_the_bulk_api_and_the_page(
    client, guide, settings
):
    settings.LANGUAGE_CODE = "en"
    fan = make_customer(store=guide.store, guide=guide)
    api = staff_api(guide)
    one = api.post(
        f"/api/v1/customers/{fan.pk}/tags/",
        {"add": ["business"]},
        format="json",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    bulk = api.post(
        "/api/v1/tags/bulk/",
        {"customers": [fan.pk], "add": ["business"]},
        format="json",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    client.force_login(guide.user)
    page = client.post(f"/fans/{fan.pk}/tags/", {"tag": "business"}, HTTP_ACCEPT_LANGUAGE="en")
    assert (one.status_code, one.json()) == (400, {"tags": [NOT_A_REF]})
    assert (bulk.status_code, bulk.json()) == (400, {"tags": [NOT_A_REF]})
    assert [str(m) for m in get_messages(page.wsgi_request)] == [NOT_A_REF]
    assert not CustomerTag.objects.exists()


def test_a_tag_added_and_removed_at_once_is_refused_by_the_schema(guide):
    fan = make_customer(store=guide.store, guide=guide)
    response = staff_api(guide).post(
        f"/api/v1/customers/{fan.pk}/tags/",
        {"add": ["style:business"], "remove": ["style:business"]},
        format="json",
        HTTP_ACCEPT_LANGUAGE="en",
    )
    assert response.status_code == 400
    assert list(response.json()) == ["tags"]
