"""Issue 12 item 7: the API reads JSON only (another content type: 415) and refuses every body
over 1 MiB with a 413, whatever its type; text a database cannot store is a 400."""

import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.test.client import MULTIPART_CONTENT, encode_multipart

from customers.models import Customer, PosToken

MiB = 1024 * 1024
TOKEN_URL = "/api/v1/auth/token/"


@pytest.fixture
def api():
    return Client(raise_request_exception=False)


def test_a_4_mib_form_body_to_the_token_endpoint_is_a_413(api, db):
    body = "username=" + "x" * (4 * MiB) + "&password=y"
    response = api.post(TOKEN_URL, body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 413
    assert response.json()["detail"]


def test_a_3_mib_multipart_upload_is_a_413_before_it_is_read(api, db):
    upload = SimpleUploadedFile("a.bin", b"z" * 3 * MiB)  # files are outside Django's limit
    body = encode_multipart("BoUnDaRy", {"username": "x", "password": "y", "f": upload})
    response = api.post(TOKEN_URL, body, content_type="multipart/form-data; boundary=BoUnDaRy")
    assert response.status_code == 413


@pytest.mark.parametrize(
    "content_type", ["application/x-www-form-urlencoded", MULTIPART_CONTENT, "text/plain"]
)
def test_a_small_body_that_is_not_json_is_a_415(api, db, content_type):
    if content_type == MULTIPART_CONTENT:
        body = encode_multipart("BoUnDaRyStRiNg", {"username": "x", "password": "y"})
    else:
        body = "username=x&password=y"
    response = api.generic("POST", TOKEN_URL, body, content_type=content_type)
    assert response.status_code == 415


def _json_of_size(size: int) -> str:
    body = json.dumps({"username": "", "password": "y"})
    return json.dumps({"username": "x" * (size - len(body)), "password": "y"})


def test_a_json_body_of_exactly_1_mib_is_read(api, db):
    body = _json_of_size(MiB)
    assert len(body.encode()) == MiB
    assert api.post(TOKEN_URL, body, content_type="application/json").status_code == 401


def test_a_json_body_one_byte_over_1_mib_is_a_413(api, db):
    body = _json_of_size(MiB + 1)
    assert api.post(TOKEN_URL, body, content_type="application/json").status_code == 413


def test_a_lone_surrogate_in_json_text_is_a_400_and_nothing_is_written(api, store):
    key = PosToken.issue(store=store, name="front desk")[1]
    order = {
        "external_id": "POS-\ud800",
        "customer": {"phone": "13900139000", "name": "王小丽"},
        "paid_at": "2026-11-15T12:00:00+08:00",
        "amount": "599.00",
    }
    response = api.post(
        "/api/v1/orders/",
        json.dumps(order),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Token {key}",
    )
    assert response.status_code == 400
    assert not Customer.objects.exists()
