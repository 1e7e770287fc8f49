"""What a request gets when the site cannot serve it (issue 10 items 7 and 8): 413 for a body too
large to read, 400 for text no database can store, 503 with Retry-After when the database is gone.
Never a 500, never a traceback."""

import json
from unittest import mock

import pytest
from django.db import OperationalError, connection
from django.test import Client

from tests.factories import UserFactory, api_token

pytestmark = pytest.mark.django_db

THREE_MB = 3 * 1024 * 1024


@pytest.fixture
def client():
    return Client(raise_request_exception=False)


def _post(client, path, body: bytes, **extra):
    return client.post(path, data=body, content_type="application/json", **extra)


@pytest.mark.parametrize("path", ["/api/users/balance", "/api/users/login", "/api/start-download"])
def test_a_3_mb_body_on_an_api_endpoint_is_a_413(client, path):
    response = _post(client, path, b'{"session_token": "' + b"x" * THREE_MB + b'"}')
    assert response.status_code == 413
    assert response.json()["error"] == "too_large"


@pytest.mark.parametrize("size", [THREE_MB, 30 * 1024 * 1024])
def test_the_ipn_gets_413_not_503_for_a_huge_body(client, size):
    """A 5xx makes the provider retry forever; a 413 says the message itself is wrong. The 30 MB
    case announces its length without sending it (the limit is checked before reading)."""
    body = b"x" * min(size, THREE_MB)
    response = client.post(
        "/payments/coinpayments/ipn/",
        data=body,
        content_type="application/x-www-form-urlencoded",
        CONTENT_LENGTH=str(size),
        HTTP_HMAC="0" * 128,
    )
    assert response.status_code == 413
    assert response.json()["error"] == "too_large"


@pytest.mark.parametrize(
    "body",
    [
        {"email": "nul\u0000@example.com", "pin": "4829"},  # psycopg2: "A string literal cannot contain NUL"
        {"email": "sur\ud800@example.com", "pin": "4829"},  # a lone surrogate: not UTF-8 text
        {"email": "a@example.com", "pin": "4829", "\ud800": 1},
    ],
)
def test_text_no_database_can_store_is_a_400(client, body):
    raw = json.dumps(body).encode()  # json.dumps escapes both as \\u0000 / \\ud800: valid JSON
    for path in ("/api/users/register", "/api/users/login"):
        response = _post(client, path, raw)
        assert response.status_code == 400, (path, response.content)
        assert response.json()["error"] == "invalid_request"


def test_database_gone_mid_request_is_a_json_503_on_the_api(client):
    token = api_token(UserFactory())
    with mock.patch("portal.selectors._summary_row", side_effect=OperationalError("server closed the connection")):
        response = _post(client, "/api/users/balance", b"{}", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 503
    assert response.json()["error"] == "unavailable"
    assert response["Retry-After"] == "30"


def test_database_gone_mid_request_is_a_clear_page_for_members(client):
    client.force_login(UserFactory())
    with mock.patch("portal.selectors.history_page", side_effect=OperationalError("terminating connection")):
        response = client.get("/dashboard/")
    assert response.status_code == 503
    assert response["Retry-After"] == "30"
    page = response.content.decode()
    assert "Back in a minute" in page and "Traceback" not in page


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_killed_database_connection_is_replaced_not_a_500(client):
    """PostgreSQL restarted under load drops every connection: a request that meets the dead
    connection answers 503 (or reconnects, when its first query is the health check), never 500;
    at the end of that request Django drops the broken connection (close_old_connections, which
    the test client switches off: done by hand here) and the next request answers normally."""
    token = api_token(UserFactory())
    assert _post(client, "/api/users/balance", b"{}", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200
    pid = connection.connection.info.backend_pid
    import psycopg2

    db = connection.settings_dict
    killer = psycopg2.connect(dbname=db["NAME"], user=db["USER"], host=db["HOST"] or "127.0.0.1", port=db["PORT"])
    killer.autocommit = True
    with killer.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
    killer.close()
    response = _post(client, "/api/users/balance", b"{}", HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code in (200, 503), response.content
    if response.status_code == 503:
        assert response.json()["error"] == "unavailable"
    connection.close_if_unusable_or_obsolete()  # what request_finished does outside the test client
    assert _post(client, "/api/users/balance", b"{}", HTTP_AUTHORIZATION=f"Bearer {token}").status_code == 200


def test_a_form_upload_may_be_larger_than_a_json_body_but_not_unbounded(client, settings):
    """Multipart uploads stream files to disk: they get the upload limit (41 MB, as nginx), not
    the 2.5 MB in-memory one; past it, 413 before anything reads the body."""
    client.force_login(UserFactory())
    boundary = "multipart/form-data; boundary=XyZ"
    big = client.post("/downloads/upload/", data=b"--XyZ--\r\n", content_type=boundary, CONTENT_LENGTH=str(THREE_MB))
    assert big.status_code != 413  # the view decides (here: an empty form)
    huge = str(settings.GOLDBOOK_MAX_UPLOAD_BODY_BYTES + 1)
    refused = client.post("/downloads/upload/", data=b"--XyZ--\r\n", content_type=boundary, CONTENT_LENGTH=huge)
    assert refused.status_code == 413
