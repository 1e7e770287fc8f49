"""Brute-force protection shared by the web and the API: per-email and per-IP throttling,
lockout after consecutive failures, recovery, notices, and no account enumeration."""

import re

import pytest
from django.core import mail
from django.core.cache import cache

from accounts.models import User
from tests.factories import DEFAULT_PIN, UserFactory, verify_email

pytestmark = pytest.mark.django_db

WRONG = "9371"


def login(api, email, pin, ip="127.0.0.1"):
    return api("/users/login", {"email": email, "pin": pin}, ip=ip)


def web_login(client, email, pin, ip="127.0.0.1"):
    return client.post("/accounts/login/", {"login": email, "password": pin}, REMOTE_ADDR=ip)


def window_passes():
    """The 15-minute windows live in the cache; emptying it is what time passing does to them."""
    cache.clear()


# --- per email --------------------------------------------------------------------------------


def test_sixth_attempt_within_the_window_is_429_even_with_the_right_pin(api):
    UserFactory(email="m@example.com")
    for _ in range(5):
        assert login(api, "m@example.com", WRONG).status_code == 401
    response = login(api, "m@example.com", DEFAULT_PIN)
    assert response.status_code == 429
    retry_after = int(response["Retry-After"])
    assert 840 < retry_after <= 900
    assert response.json()["retry_after"] == retry_after
    assert response.json()["error"] == "too_many_attempts"
    window_passes()
    assert login(api, "m@example.com", DEFAULT_PIN).status_code == 200


def test_web_and_api_share_the_per_email_counter(api, client):
    UserFactory(email="m@example.com")
    for _ in range(3):
        assert login(api, "m@example.com", WRONG).status_code == 401
    for _ in range(2):
        response = web_login(client, "m@example.com", WRONG)
        assert response.status_code == 200
        assert b"do not match" in response.content
    response = web_login(client, "m@example.com", DEFAULT_PIN)
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert b"Too many wrong PINs" in response.content
    assert login(api, "m@example.com", DEFAULT_PIN).status_code == 429


def test_throttled_attempts_and_successes_do_not_count(api):
    UserFactory(email="m@example.com")
    for _ in range(4):
        assert login(api, "m@example.com", WRONG).status_code == 401
    for _ in range(3):  # successes give their slot back
        assert login(api, "m@example.com", DEFAULT_PIN).status_code == 200
    assert login(api, "m@example.com", WRONG).status_code == 401  # the 5th failure
    assert User.objects.get().pin_failures == 1  # the successes reset the consecutive count
    for _ in range(3):
        assert login(api, "m@example.com", WRONG).status_code == 429
    assert User.objects.get().pin_failures == 1  # refused attempts are no PIN checks


def test_unknown_emails_are_throttled_like_known_ones(api):
    for _ in range(5):
        assert login(api, "ghost@example.com", WRONG).status_code == 401
    assert login(api, "ghost@example.com", WRONG).status_code == 429


def test_a_non_pin_is_a_400_and_is_not_counted(api):
    UserFactory(email="m@example.com")
    for _ in range(8):
        assert api("/users/login", {"email": "m@example.com", "pin": "abcd"}).status_code == 400
    assert login(api, "m@example.com", DEFAULT_PIN).status_code == 200


# --- per IP -----------------------------------------------------------------------------------


def test_one_ip_is_throttled_after_20_failures_across_emails(api):
    UserFactory(email="m@example.com")
    for n in range(20):
        assert login(api, f"guess{n}@example.com", WRONG, ip="10.9.9.9").status_code == 401
    response = login(api, "m@example.com", DEFAULT_PIN, ip="10.9.9.9")
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    # Other networks are unaffected, and the refused attempt did not count against the email.
    assert login(api, "m@example.com", DEFAULT_PIN, ip="10.9.9.10").status_code == 200


# --- lockout ----------------------------------------------------------------------------------


def fail(api, email, times):
    for _ in range(times):
        assert login(api, email, WRONG).status_code in (401, 423)


def test_ten_consecutive_failures_across_windows_lock_the_account(api, client, django_capture_on_commit_callbacks):
    user = UserFactory(email="m@example.com")
    fail(api, "m@example.com", 5)
    window_passes()
    fail(api, "m@example.com", 4)
    assert User.objects.get(pk=user.pk).locked_at is None
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = login(api, "m@example.com", WRONG)  # the 10th
    assert response.status_code == 423
    assert response.json()["error"] == "account_locked"
    locked = User.objects.get(pk=user.pk)
    assert locked.locked_at is not None and locked.pin_failures == 10
    # The owner is told, with the way back.
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["m@example.com"]
    assert "/accounts/password/reset/" in mail.outbox[0].body

    window_passes()
    # Locked: even the right PIN is refused, on the API (423) and on the web (a clear page).
    assert login(api, "m@example.com", DEFAULT_PIN).status_code == 423
    page = web_login(client, "m@example.com", DEFAULT_PIN)
    assert page.status_code == 423
    assert b"Your account is locked" in page.content
    assert len(mail.outbox) == 1  # one notice, not one per attempt


def test_a_success_resets_the_consecutive_count(api):
    user = UserFactory(email="m@example.com")
    fail(api, "m@example.com", 4)
    window_passes()
    fail(api, "m@example.com", 4)
    assert login(api, "m@example.com", DEFAULT_PIN).status_code == 200
    window_passes()
    fail(api, "m@example.com", 4)
    assert User.objects.get(pk=user.pk).locked_at is None


def _recovery_link(client, email):
    mail.outbox.clear()
    response = client.post("/accounts/password/reset/", {"email": email})
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    return mail.outbox[0]


def test_recovery_through_the_emailed_link_unlocks_the_account(api, client):
    user = UserFactory(email="m@example.com")
    verify_email(user)
    User.objects.filter(pk=user.pk).update(pin_failures=10, locked_at="2026-01-01T00:00:00Z")
    fail(api, "m@example.com", 3)  # attempts against the email before recovery

    message = _recovery_link(client, "m@example.com")
    url = re.search(r"http://\S+/accounts/password/reset/key/\S+", message.body).group(0)
    form_page = client.get(url, follow=True)
    assert form_page.status_code == 200
    action = form_page.redirect_chain[-1][0] if form_page.redirect_chain else url
    # A common PIN is refused here too.
    refused = client.post(action, {"password1": "1234", "password2": "1234"})
    assert b"most common" in refused.content
    done = client.post(action, {"password1": "58203", "password2": "58203"})
    assert done.status_code == 302

    user.refresh_from_db()
    assert user.locked_at is None and user.pin_failures == 0
    assert login(api, "m@example.com", "58203").status_code == 200


def test_recovery_needs_a_verified_email_first(client):
    user = UserFactory(email="m@example.com")  # not verified
    message = _recovery_link(client, "m@example.com")
    assert "/accounts/password/reset/key/" not in message.body
    assert "/accounts/confirm-email/" in message.body
    verify_email(user)
    message = _recovery_link(client, "m@example.com")
    assert "/accounts/password/reset/key/" in message.body


def test_recovery_answers_the_same_for_unknown_emails(client):
    UserFactory(email="m@example.com")
    known = client.post("/accounts/password/reset/", {"email": "m@example.com"})
    unknown = client.post("/accounts/password/reset/", {"email": "ghost@example.com"})
    assert known.status_code == unknown.status_code == 302
    assert known["Location"] == unknown["Location"]


# --- new address notice -----------------------------------------------------------------------


def test_sign_in_from_a_new_ip_emails_the_owner_once(api, django_capture_on_commit_callbacks):
    api("/users/register", {"email": "m@example.com", "pin": DEFAULT_PIN}, ip="10.0.0.1")
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        assert login(api, "m@example.com", DEFAULT_PIN, ip="10.0.0.1").status_code == 200
    assert mail.outbox == []  # the registration address is known
    with django_capture_on_commit_callbacks(execute=True):
        assert login(api, "m@example.com", DEFAULT_PIN, ip="10.0.0.2").status_code == 200
    assert len(mail.outbox) == 1
    assert "10.0.0.2" in mail.outbox[0].body
    with django_capture_on_commit_callbacks(execute=True):
        assert login(api, "m@example.com", DEFAULT_PIN, ip="10.0.0.2").status_code == 200
    assert len(mail.outbox) == 1


# --- enumeration ------------------------------------------------------------------------------


class CountingHasher:
    calls = 0


@pytest.fixture
def counting_hasher(settings):
    from django.contrib.auth.hashers import MD5PasswordHasher

    class Counting(MD5PasswordHasher):
        def verify(self, password, encoded):
            CountingHasher.calls += 1
            return super().verify(password, encoded)

    import sys
    import types

    module = types.ModuleType("tests_counting_hasher")
    module.Counting = Counting
    sys.modules["tests_counting_hasher"] = module
    settings.PASSWORD_HASHERS = ["tests_counting_hasher.Counting"]
    CountingHasher.calls = 0
    yield CountingHasher
    del sys.modules["tests_counting_hasher"]


def test_unknown_email_costs_one_hash_like_a_wrong_pin(api, counting_hasher):
    UserFactory(email="m@example.com")
    counting_hasher.calls = 0
    wrong = login(api, "m@example.com", WRONG)
    assert counting_hasher.calls == 1
    counting_hasher.calls = 0
    unknown = login(api, "ghost@example.com", WRONG)
    assert counting_hasher.calls == 1  # the dummy PIN hash ran: same work, same time
    assert (wrong.status_code, wrong.content) == (unknown.status_code, unknown.content)


def test_web_sign_in_answers_alike_for_unknown_emails(client):
    UserFactory(email="m@example.com")
    wrong = web_login(client, "m@example.com", WRONG)
    unknown = web_login(client, "ghost@example.com", WRONG)
    assert wrong.status_code == unknown.status_code == 200
    assert b"That email and PIN do not match an account." in wrong.content
    assert b"That email and PIN do not match an account." in unknown.content


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_parallel_guesses_cannot_overshoot_the_email_limit(api, live_server):
    """Each attempt reserves its slot before bcrypt runs, so 12 parallel guesses get at most 5
    PIN checks."""
    import json
    import threading
    import urllib.request

    from django.db import connection

    UserFactory(email="m@example.com")
    statuses = []

    def guess():
        request = urllib.request.Request(
            f"{live_server.url}/api/users/login",
            data=json.dumps({"email": "m@example.com", "pin": WRONG}).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                statuses.append(response.status)
        except urllib.error.HTTPError as exc:
            statuses.append(exc.code)
        finally:
            connection.close()

    threads = [threading.Thread(target=guess) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert statuses.count(401) <= 5
    assert statuses.count(429) >= 7
    assert User.objects.get().pin_failures <= 5
