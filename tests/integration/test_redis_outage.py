"""Redis down or hung (issue 10, items 3 and 4): every request answers within a bound and never
500. What PostgreSQL alone can serve (balance, history, start-download, an item's download,
redeem, events intake, leaderboards) is served; sign-in and registration, whose brute-force
counters live in Redis, fail closed: the API answers 503 `unavailable` with Retry-After, the web
sign-in page a 503 page in plain words.

"Down" is a port nobody listens on; "hung" a server that accepts and never answers (a stopped
Redis). The suite's own Redis is untouched.
"""

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from rewards.models import Integration
from tests.factories import (
    RewardFactory,
    UserFactory,
    api_token,
    forum_event,
    fund,
    make_item,
    make_songs,
    verify_email,
)
from tests.redis_faults import HungRedis, down_url, redis_at
from tests.rewards.conftest import signed_post
from tests.rewards.test_api import event_body

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]

# Generous: a fault test, not a benchmark. Before the timeouts a hung Redis held a request until
# gunicorn killed it (60 s); with them a request makes a few bounded calls at most.
BOUND = 10.0


@pytest.fixture(params=["down", "hung"])
def outage(request, settings, tmp_path) -> Iterator[str]:
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.DOWNLOADS_X_ACCEL_REDIRECT_PREFIX = ""
    settings.REWARDS_LEADERBOARD_BACKEND = "auto"
    hung = HungRedis() if request.param == "hung" else None
    with redis_at(settings, hung.url if hung else down_url()):
        yield request.param
    if hung:
        hung.close()  # frees any call still waiting on it


def bounded(call: Callable[[], Any]) -> tuple[Any, float]:
    """Run `call` in a thread; fail if it is still waiting after BOUND seconds."""
    box: dict[str, Any] = {}

    def run() -> None:
        try:
            box["result"] = call()
        except BaseException as exc:  # handed to the test thread
            box["exc"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=run, daemon=True)
    start = time.monotonic()
    thread.start()
    thread.join(BOUND)
    elapsed = time.monotonic() - start
    assert not thread.is_alive(), f"still waiting on Redis after {BOUND:.0f} s"
    if "exc" in box:
        raise box["exc"]
    return box["result"], elapsed


def post(path: str, body: dict[str, Any], *, token: str | None = None) -> Any:
    client = Client(raise_request_exception=False)
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return client.post(path, body, content_type="application/json", **headers)


def get(path: str, *, token: str | None = None) -> Any:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    return Client(raise_request_exception=False).get(path, **headers)


def test_api_sign_in_fails_closed_with_503_and_retry_after(outage):
    UserFactory(email="m@example.com", password="482913")
    resp, elapsed = bounded(lambda: post("/api/users/login", {"email": "m@example.com", "pin": "482913"}))
    assert resp.status_code == 503, resp.content
    assert resp.json()["error"] == "unavailable" and resp.json()["message"]
    assert int(resp["Retry-After"]) > 0
    assert "session_token" not in resp.json()


def test_api_registration_fails_closed(outage):
    resp, _ = bounded(lambda: post("/api/users/register", {"email": "new@example.com", "pin": "482913"}))
    assert resp.status_code == 503, resp.content
    assert resp.json()["error"] == "unavailable" and int(resp["Retry-After"]) > 0


def test_web_sign_in_shows_a_clear_503_page(outage):
    UserFactory(email="m@example.com", password="482913")
    data = {"login": "m@example.com", "password": "482913"}
    resp, _ = bounded(lambda: Client(raise_request_exception=False).post("/accounts/login/", data))
    assert resp.status_code == 503
    assert int(resp["Retry-After"]) > 0
    page = resp.content.decode()
    assert "Signing in is paused" in page and "Traceback" not in page
    assert "_auth_user_id" not in Client().session.keys()


def test_web_sign_up_shows_the_503_page(outage):
    data = {"email": "new@example.com", "password1": "482913"}
    resp, _ = bounded(lambda: Client(raise_request_exception=False).post("/accounts/signup/", data))
    assert resp.status_code == 503
    assert "paused" in resp.content.decode()


def test_balance_and_history_are_served_from_postgres(outage):
    user = UserFactory()
    fund(user, "45.50")
    token = api_token(user)
    resp, elapsed = bounded(lambda: post("/api/users/balance", {}, token=token))
    assert resp.status_code == 200 and resp.json()["credit_balance"] == 45.5
    print(f"\n[{outage}] balance answered in {elapsed:.2f} s")
    resp, _ = bounded(lambda: post("/api/users/transactions", {}, token=token))
    assert resp.status_code == 200 and len(resp.json()["transactions"]) == 1


def test_start_download_commits_and_answers(outage):
    make_songs(3)
    user = UserFactory()
    fund(user, "100.00")
    token = api_token(user)
    resp, elapsed = bounded(lambda: post("/api/start-download", {"requested_songs": 2}, token=token))
    print(f"\n[{outage}] start-download answered in {elapsed:.2f} s")
    assert resp.status_code in (200, 201, 202), resp.content
    assert resp.json()["job_id"]


def test_item_download_redeem_and_events_intake(outage):
    user = UserFactory(email="poster@example.com")
    fund(user, "100.00")
    token = api_token(user)
    item = make_item()
    resp, _ = bounded(lambda: post(f"/api/items/{item.pk}/download", {}, token=token))
    assert resp.status_code < 500, resp.content

    reward = RewardFactory(price=1000)
    body = {"reward_id": reward.pk, "idempotency_key": "r1"}
    resp, _ = bounded(lambda: post("/api/rewards/redeem", body, token=token))
    assert resp.status_code == 201, resp.content

    Integration.objects.create(name="forum", secret="s3cret-for-tests")
    resp, _ = bounded(lambda: signed_post(Client(raise_request_exception=False), event_body()))
    assert resp.status_code == 202, resp.content


def test_leaderboard_reads_sql_while_redis_is_out(outage):
    verify_email(UserFactory(email="poster@example.com"))  # events credit verified addresses only
    bounded(lambda: forum_event("poster@example.com", "answer.accepted", "a1"))
    resp, _ = bounded(lambda: get("/api/rewards/leaderboard?period=all"))
    assert resp.status_code == 200
    assert [e["coins_earned"] for e in resp.json()["entries"]] == [20]


def test_every_redis_client_is_built_with_the_timeouts(settings):
    """The settings reach each client: the cache's pool, the leaderboard client, the broker."""
    from django.core.cache import cache

    from config.celery import app
    from rewards.selectors import redis_client

    expected = {"socket_connect_timeout": settings.GOLDBOOK_REDIS_CONNECT_TIMEOUT}
    expected["socket_timeout"] = settings.GOLDBOOK_REDIS_TIMEOUT
    pool = cache._cache.get_client(write=True).connection_pool
    assert {k: pool.connection_kwargs.get(k) for k in expected} == expected
    board = redis_client().connection_pool
    assert {k: board.connection_kwargs.get(k) for k in expected} == expected
    options = app.conf.broker_transport_options
    assert {k: options.get(k) for k in expected} == expected
    assert options["connect_retries_timeout"] == settings.GOLDBOOK_REDIS_TIMEOUT


def test_pages_for_a_signed_in_member_and_the_sign_in_form_still_load(outage):
    user = UserFactory()
    fund(user, "10.00")

    def pages():
        client = Client(raise_request_exception=False)
        client.force_login(user)
        return [client.get(path).status_code for path in ("/", "/dashboard/")] + [
            Client(raise_request_exception=False).get("/accounts/login/").status_code
        ]

    statuses, _ = bounded(pages)
    assert statuses == [200, 200, 200]


def test_every_page_that_counts_attempts_shows_the_503_page(outage):
    user = UserFactory(password="482913")
    member = Client(raise_request_exception=False)
    member.force_login(user)
    anonymous = Client(raise_request_exception=False)
    posts = [
        lambda: anonymous.post("/accounts/password/reset/", {"email": user.email}),
        lambda: anonymous.post("/accounts/password/reset/key/1-set-password/", {"password1": "1", "password2": "1"}),
        lambda: member.post(
            "/accounts/password/change/", {"oldpassword": "482913", "password1": "5", "password2": "5"}
        ),
        lambda: member.post("/accounts/email/", {"action_add": "", "email": "other@example.com"}),
    ]
    responses = [bounded(call)[0] for call in posts]  # each within the bound
    assert [r.status_code for r in responses] == [503, 503, 503, 503]
    assert all("is paused" in r.content.decode() and r["Retry-After"] for r in responses)


def test_the_outbox_kick_gives_up_within_the_broker_timeout(outage, settings):
    """The after-commit kick is the one broker call a request makes: it must return (the sweep
    delivers later) within about the read timeout, not kombu's retries or forever."""
    from core.outbox import kick

    _, elapsed = bounded(lambda: kick(0))
    assert elapsed < settings.GOLDBOOK_REDIS_TIMEOUT + 1.5


def test_after_a_failed_read_leaderboards_skip_redis_for_a_while(outage):
    """A hung Redis costs one leaderboard read the timeout, not every page that shows a rank."""
    bounded(lambda: get("/api/rewards/leaderboard?period=all"))
    resp, elapsed = bounded(lambda: get("/api/rewards/leaderboard?period=week"))
    assert resp.status_code == 200
    assert elapsed < 1.0
