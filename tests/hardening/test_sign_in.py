"""Issue 12 item 8 (sign-in part): a username longer than axes' 255-character column is an
ordinary failed sign-in (PostgreSQL refused axes' INSERT: a 500), and a locked-out API caller
gets JSON."""

from axes.models import AccessAttempt
from django.test import Client
from rest_framework.test import APIClient

TOKEN_URL = "/api/v1/auth/token/"
LONG = "u" * 300


def test_a_300_character_username_on_the_sign_in_page_is_a_form_error(db):
    client = Client(raise_request_exception=False)
    response = client.post("/accounts/login/", {"username": LONG, "password": "x"})
    assert response.status_code == 200
    assert response.context["form"].errors
    assert "_auth_user_id" not in client.session


def test_a_300_character_username_for_a_token_is_an_ordinary_401(db):
    response = APIClient().post(TOKEN_URL, {"username": LONG, "password": "x"}, format="json")
    assert response.status_code == 401
    assert "token" not in response.json()


def test_axes_records_a_long_username_cut_to_its_255_character_column(db):
    APIClient().post(TOKEN_URL, {"username": LONG, "password": "x"}, format="json")
    assert AccessAttempt.objects.get().username == "u" * 255


def test_a_locked_out_api_caller_gets_json(guide):
    client = APIClient()
    bad = {"username": guide.user.username, "password": "wrong"}
    for _ in range(5):
        client.post(TOKEN_URL, bad, format="json")
    response = client.post(TOKEN_URL, bad, format="json")
    assert response.status_code == 429
    assert response["Content-Type"] == "application/json"
    assert response.json()["detail"]


def test_a_locked_out_page_visitor_still_gets_the_page(client, guide):
    bad = {"username": guide.user.username, "password": "wrong"}
    for _ in range(5):
        client.post("/accounts/login/", bad)
    response = client.post("/accounts/login/", bad)
    assert response.status_code == 429
    assert response["Content-Type"].startswith("text/html")
    assert "registration/locked.html" in [t.name for t in response.templates]
