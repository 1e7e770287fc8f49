import logging

import pytest
from django.db import connection

from accounts.models import ApiSession
from accounts.services import token_digest
from tests.factories import DEFAULT_PIN, UserFactory

pytestmark = pytest.mark.django_db


def test_a_raw_token_never_reaches_the_logs_or_the_database(api, caplog):
    UserFactory(email="m@example.com")
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.DEBUG, logger="django.db.backends")
    connection.force_debug_cursor = True  # log every SQL statement with its parameters
    try:
        token = api("/users/login", {"email": "m@example.com", "pin": DEFAULT_PIN}).json()["session_token"]
        assert api("/users/balance", {"session_token": token}).status_code == 200
        assert api("/users/transactions", token=token).status_code == 200
        assert api("/users/logout", {"session_token": token}).status_code == 200
        assert api("/users/balance", {"session_token": token}).status_code == 401
    finally:
        connection.force_debug_cursor = False
    assert "django.db.backends" in {r.name for r in caplog.records}  # the SQL really was logged
    assert token not in caplog.text
    assert token[4:] not in caplog.text

    session = ApiSession.objects.get()
    assert session.token_digest == token_digest(token)
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM accounts_apisession")
        rows = cursor.fetchall()
    assert not any(token[4:] in str(value) for row in rows for value in row)


def test_token_checks_are_one_indexed_lookup_without_bcrypt(api, django_assert_max_num_queries, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.BCryptSHA256PasswordHasher"]
    from accounts.selectors import api_session_for_token
    from tests.factories import api_token

    token = api_token(UserFactory())
    with django_assert_max_num_queries(1):
        assert api_session_for_token(token) is not None
