import hashlib
import hmac
import json
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.services import api_session_create
from rewards.models import ActivityEvent, Bounty, EventStatus, Redemption
from tests.factories import RewardFactory, UserFactory, forum_event, fund
from tests.rewards.conftest import answer, sign, signed_post
from wallet.models import Transfer
from wallet.selectors import balance_for_user

pytestmark = pytest.mark.django_db


def token(user):
    return api_session_create(user=user, ip=None, user_agent="t")[1]


def auth(user):
    return {"HTTP_AUTHORIZATION": f"Bearer {token(user)}"}


def event_body(**overrides):
    body = {
        "event_id": "evt-1",
        "type": "answer.accepted",
        "occurred_at": "2025-01-02T03:04:05Z",
        "user": {"email": "poster@example.com"},
        "object": {"type": "answer", "id": 991},
        "data": {},
    }
    body.update(overrides)
    return body


# --- intake -----------------------------------------------------------------------------------


def test_signed_event_is_accepted_then_replay_is_200(client, integration):
    user = UserFactory(email="poster@example.com")
    first = signed_post(client, event_body())
    assert first.status_code == 202
    assert first.json()["status"] == "applied" and first.json()["replay"] is False
    again = signed_post(client, event_body())
    assert again.status_code == 200 and again.json()["replay"] is True
    assert balance_for_user(user_id=user.pk).balance == 2000


def test_event_for_unknown_user_is_stored_pending(client, integration):
    response = signed_post(client, event_body(user={"external_id": 77}))
    assert response.status_code == 202
    assert response.json()["status"] == "pending"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"sig": "sha256=" + "0" * 64},
        {"sig": "md5=abc"},
        {"sig": ""},
        {"secret": "wrong-secret"},
        {"name": "other-forum"},
        {"name": ""},
    ],
)
def test_forged_or_unknown_integration_is_401(client, integration, kwargs):
    response = signed_post(client, event_body(), **kwargs)
    assert response.status_code == 401
    assert response.json()["error"] == "bad_signature"
    assert not ActivityEvent.objects.exists()


def test_signature_covers_the_raw_body(client, integration):
    raw = json.dumps(event_body()).encode()
    stamp, sig = sign(raw)
    tampered = raw.replace(b"991", b"992")
    response = client.post(
        "/api/rewards/events",
        data=tampered,
        content_type="application/json",
        HTTP_X_GOLDBOOK_INTEGRATION="forum",
        HTTP_X_GOLDBOOK_SIGNATURE=sig,
        HTTP_X_GOLDBOOK_TIMESTAMP=stamp,
    )
    assert response.status_code == 401


def test_body_only_signature_is_refused(client, integration):
    """The old scheme (HMAC of the body alone, no timestamp) could be replayed for ever."""
    UserFactory(email="poster@example.com")
    raw = json.dumps(event_body()).encode()
    body_only = "sha256=" + hmac.new(b"s3cret-for-tests", raw, hashlib.sha256).hexdigest()
    for extra in ({}, {"HTTP_X_GOLDBOOK_TIMESTAMP": str(int(time.time()))}):
        response = client.post(
            "/api/rewards/events",
            data=raw,
            content_type="application/json",
            HTTP_X_GOLDBOOK_INTEGRATION="forum",
            HTTP_X_GOLDBOOK_SIGNATURE=body_only,
            **extra,
        )
        assert response.status_code == 401
        assert response.json()["error"] == "bad_signature"
    assert not ActivityEvent.objects.exists()


@pytest.mark.parametrize("skew", [-301, 301, -3600, 10**6])
def test_timestamp_outside_five_minutes_is_401(client, integration, skew):
    response = signed_post(client, event_body(), timestamp=int(time.time()) + skew)
    assert response.status_code == 401
    assert response.json()["error"] == "bad_signature"
    assert not ActivityEvent.objects.exists()


@pytest.mark.parametrize("stamp", ["", "abc", "1e9", "-5", "1" * 40, "12 34"])
def test_malformed_timestamp_is_401(client, integration, stamp):
    assert signed_post(client, event_body(), timestamp=stamp).status_code == 401


def test_timestamp_within_five_minutes_is_accepted(client, integration):
    assert signed_post(client, event_body(), timestamp=int(time.time()) - 290).status_code == 202


def test_replayed_event_id_with_another_body_is_409(client, integration):
    user = UserFactory(email="poster@example.com")
    assert signed_post(client, event_body()).status_code == 202
    other = signed_post(client, event_body(user={"email": "thief@example.com"}))
    assert other.status_code == 409
    assert other.json()["error"] == "event_conflict"
    assert signed_post(client, event_body(object={"type": "answer", "id": 992})).status_code == 409
    # The same body, re-signed later (a forum's retry), stays a 200 replay.
    again = signed_post(client, event_body(), timestamp=int(time.time()) + 5)
    assert again.status_code == 200 and again.json()["replay"] is True
    assert balance_for_user(user_id=user.pk).balance == 2000


def test_inactive_integration_is_401(client, integration):
    integration.is_active = False
    integration.save()
    assert signed_post(client, event_body()).status_code == 401


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[]",
        b"{}",
        json.dumps(event_body(type="post.exploded")).encode(),
        json.dumps(event_body(user={})).encode(),
        json.dumps(event_body(user={"email": "no-at-sign"})).encode(),
        json.dumps(event_body(type="post.upvoted", data={"upvotes": 3})).encode(),
        json.dumps(event_body(event_id="")).encode(),
        json.dumps(event_body(event_id="x" * 500)).encode(),
        json.dumps(event_body(object={"type": "", "id": 1})).encode(),
        json.dumps(event_body(occurred_at="yesterday")).encode(),
        json.dumps(event_body(data=[1, 2])).encode(),
        '{"event_id": "\u00e9"'.encode(),
    ],
)
def test_malformed_signed_events_are_400(client, integration, body):
    response = signed_post(client, body)
    assert response.status_code == 400, response.content
    assert response.json()["error"]


@pytest.mark.parametrize(
    "raw",
    [
        json.dumps(event_body()).encode()[:-1] + b', "data": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        json.dumps(event_body()).encode()[:-1] + b', "data": {"score": NaN}}',
        json.dumps(event_body()).encode()[:-1] + b', "data": {"score": 1e999}}',
        b'{"event_id": "\xff\xfe"}',
    ],
    ids=["nested-5000-deep", "nan", "infinite", "not-utf8"],
)
def test_signed_bodies_get_the_site_json_guards(client, integration, raw):
    """A correctly signed body still goes through the one guarded parser: depth, finite numbers,
    UTF-8. Each is a 400, never a 500 or a stored event."""
    response = signed_post(client, raw)
    assert response.status_code == 400, response.content
    assert response.json()["error"] == "invalid_request"
    assert not ActivityEvent.objects.exists()


# --- store and redeem ---------------------------------------------------------------------------


def test_store_lists_rewards_with_affordability(client):
    cheap = RewardFactory(name="Cheap", price=500, stock=3, per_user_limit=1)
    RewardFactory(name="Dear", price=100000)
    RewardFactory(name="Hidden", is_active=False)
    user = UserFactory()
    fund(user, "10.00")
    data = client.get("/api/rewards/store", **auth(user)).json()
    assert [r["name"] for r in data["rewards"]] == ["Cheap", "Dear"]
    first = data["rewards"][0]
    assert first == {
        "id": cheap.pk,
        "name": "Cheap",
        "description": "A test reward.",
        "kind": "badge",
        "coins_required": 5.0,
        "stock": 3,
        "per_user_limit": 1,
        "affordable": True,
    }
    assert data["rewards"][1]["affordable"] is False and data["rewards"][1]["stock"] is None
    assert b'"coins_required": 5.00' in client.get("/api/rewards/store").content
    assert client.get("/api/rewards/store", HTTP_AUTHORIZATION="Bearer usr_nope").status_code == 401


def test_redeem_201_then_same_key_returns_same_redemption(client):
    reward = RewardFactory(price=10000, badge_label="Gold")
    user = UserFactory()
    fund(user, "150.00")
    body = {"session_token": token(user), "reward_id": reward.pk, "idempotency_key": "k1"}
    first = client.post("/api/rewards/redeem", body, content_type="application/json")
    assert first.status_code == 201
    out = first.json()
    assert out["status"] == "fulfilled" and out["coins_spent"] == 100 and out["new_balance"] == 50
    again = client.post("/api/rewards/redeem", body, content_type="application/json")
    assert again.status_code == 201 and again.json()["redemption_id"] == out["redemption_id"]
    assert Redemption.objects.count() == 1
    assert Transfer.objects.filter(kind="redeem").count() == 1


def test_redeem_402_when_short(client):
    reward = RewardFactory(price=10000)
    user = UserFactory()
    fund(user, "40.50")
    response = client.post(
        "/api/rewards/redeem", {"reward_id": reward.pk}, content_type="application/json", **auth(user)
    )
    assert response.status_code == 402
    data = response.json()
    assert (data["coins_required"], data["coins_available"], data["coins_needed"]) == (100, 40.5, 59.5)
    assert b'"coins_needed": 59.50' in response.content


def test_redeem_409_out_of_stock_and_over_limit(client):
    one = RewardFactory(price=100, stock=1)
    limited = RewardFactory(price=100, per_user_limit=1)
    user = UserFactory()
    fund(user, "10.00")
    headers = auth(user)

    def redeem(reward):
        return client.post("/api/rewards/redeem", {"reward_id": reward.pk}, content_type="application/json", **headers)

    assert redeem(one).status_code == 201
    assert redeem(one).json()["error"] == "out_of_stock"
    assert redeem(limited).status_code == 201
    response = redeem(limited)
    assert response.status_code == 409 and response.json()["error"] == "limit_reached"


def test_redeem_unknown_reward_404_and_no_token_401(client):
    user = UserFactory()
    assert (
        client.post(
            "/api/rewards/redeem", {"reward_id": 999}, content_type="application/json", **auth(user)
        ).status_code
        == 404
    )
    assert client.post("/api/rewards/redeem", {"reward_id": 1}, content_type="application/json").status_code == 401


# --- leaderboard ------------------------------------------------------------------------------


def test_leaderboard_api_with_me_outside_top(client):
    users = [UserFactory(display_name=f"U{i}") for i in range(12)]
    for i, u in enumerate(users):
        for a in range(i + 1):
            forum_event(u.email, "answer.accepted", f"{u.pk}-{a}")
    last = users[0]
    data = client.get("/api/rewards/leaderboard?period=week&limit=10", **auth(last)).json()
    assert [e["display_name"] for e in data["entries"]][:2] == ["U11", "U10"]
    assert data["entries"][0] == {"rank": 1, "display_name": "U11", "coins_earned": 240, "badges": [], "title": ""}
    assert len(data["entries"]) == 10
    assert data["me"] == {"rank": 12, "coins_earned": 20}
    anon = client.get("/api/rewards/leaderboard").json()
    assert "me" not in anon or anon["me"] is None
    assert client.get("/api/rewards/leaderboard?period=year").status_code == 400
    assert client.get("/api/rewards/leaderboard?limit=0").status_code == 400


# --- bounties ---------------------------------------------------------------------------------


def test_bounty_api_create_list_award(client):
    offerer, winner = UserFactory(), UserFactory()
    fund(offerer, "50.00")
    created = client.post(
        "/api/rewards/bounties",
        {"session_token": token(offerer), "thread_ref": "t/1", "title": "Fix my EA", "coins": "25.00"},
        content_type="application/json",
    )
    assert created.status_code == 201
    bounty = created.json()
    assert bounty["coins"] == 25 and bounty["status"] == "open"
    assert balance_for_user(user_id=offerer.pk).balance == 2500
    listed = client.get("/api/rewards/bounties").json()["bounties"]
    assert [b["id"] for b in listed] == [bounty["id"]]
    answer(winner, "t/1", "a-1")
    other = client.post(
        f"/api/rewards/bounties/{bounty['id']}/award",
        {"answer_id": "a-1"},
        content_type="application/json",
        **auth(winner),
    )
    assert other.status_code == 403
    awarded = client.post(
        f"/api/rewards/bounties/{bounty['id']}/award",
        {"session_token": token(offerer), "answer_id": "a-1"},
        content_type="application/json",
    )
    assert awarded.status_code == 200 and awarded.json()["status"] == "awarded"
    assert balance_for_user(user_id=winner.pk).balance == 2500
    assert client.get("/api/rewards/bounties").json()["bounties"] == []


def test_bounty_api_errors(client):
    offerer = UserFactory()
    fund(offerer, "10.00")
    h = auth(offerer)
    short = client.post(
        "/api/rewards/bounties", {"thread_ref": "t", "title": "x", "coins": "50"}, content_type="application/json", **h
    )
    assert short.status_code == 402 and short.json()["coins_needed"] == 40
    tiny = client.post(
        "/api/rewards/bounties",
        {"thread_ref": "t", "title": "x", "coins": "0.001"},
        content_type="application/json",
        **h,
    )
    assert tiny.status_code == 400
    assert client.post("/api/rewards/bounties/999/cancel", {}, content_type="application/json", **h).status_code == 404
    b = client.post(
        "/api/rewards/bounties", {"thread_ref": "t", "title": "x", "coins": "5"}, content_type="application/json", **h
    ).json()
    nobody = client.post(
        f"/api/rewards/bounties/{b['id']}/award",
        {"answer_id": "ghost"},
        content_type="application/json",
        **h,
    )
    assert nobody.status_code == 404
    b2 = client.post(
        "/api/rewards/bounties", {"thread_ref": "t2", "title": "x", "coins": "5"}, content_type="application/json", **h
    ).json()
    answer(offerer, "t2", "mine")
    myself = client.post(
        f"/api/rewards/bounties/{b2['id']}/award",
        {"answer_id": "mine"},
        content_type="application/json",
        **h,
    )
    assert myself.status_code == 400
    cancelled = client.post(f"/api/rewards/bounties/{b['id']}/cancel", content_type="application/json", **h)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    assert balance_for_user(user_id=offerer.pk).balance == 500
    again = client.post(f"/api/rewards/bounties/{b['id']}/cancel", content_type="application/json", **h)
    assert again.status_code == 409


def test_openapi_documents_every_rewards_path(client):
    paths = client.get("/api/openapi.json").json()["paths"]
    for path in [
        "/api/rewards/events",
        "/api/rewards/store",
        "/api/rewards/redeem",
        "/api/rewards/leaderboard",
        "/api/rewards/bounties",
        "/api/rewards/bounties/{bounty_id}/award",
        "/api/rewards/bounties/{bounty_id}/cancel",
    ]:
        assert path in paths, path
    assert "requestBody" in paths["/api/rewards/events"]["post"]


def test_bounty_expiry_after_grace_is_not_awardable(client):
    offerer, winner = UserFactory(), UserFactory()
    fund(offerer, "10.00")
    b = client.post(
        "/api/rewards/bounties",
        {"thread_ref": "t", "title": "x", "coins": "5", "expires_in_days": 1},
        content_type="application/json",
        **auth(offerer),
    ).json()
    Bounty.objects.filter(pk=b["id"]).update(grace_ends_at=timezone.now() - timedelta(seconds=1))
    answer(winner, "t", "a-late")
    late = client.post(
        f"/api/rewards/bounties/{b['id']}/award",
        {"answer_id": "a-late"},
        content_type="application/json",
        **auth(offerer),
    )
    assert late.status_code == 409
    assert Decimal(balance_for_user(user_id=winner.pk).balance) == 0
    assert EventStatus.APPLIED  # keep import used


def test_bounty_award_by_email_is_gone_and_award_attempts_are_throttled(client, settings):
    """Issue 11 item 7: the award endpoint no longer looks members up by email, and guesses
    are throttled (429) and answered alike."""
    settings.REWARDS_BOUNTY_AWARD_RATE = "2/h"
    from django.core.cache import cache

    cache.clear()
    offerer, member = UserFactory(), UserFactory()
    fund(offerer, "10.00")
    h = auth(offerer)
    b = client.post(
        "/api/rewards/bounties", {"thread_ref": "t/x", "title": "x", "coins": "5"}, content_type="application/json", **h
    ).json()
    url = f"/api/rewards/bounties/{b['id']}/award"
    by_email = client.post(url, {"winner": {"email": member.email}}, content_type="application/json", **h)
    assert by_email.status_code == 400
    answers = [
        client.post(url, {"answer_id": guess}, content_type="application/json", **h).json()
        for guess in [member.email, "ghost@example.com"]
    ]
    assert answers[0] == answers[1] and answers[0]["error"] == "winner_not_found"
    throttled = client.post(url, {"answer_id": "a"}, content_type="application/json", **h)
    assert throttled.status_code == 429 and throttled.json()["error"] == "throttled"
    assert Bounty.objects.get(pk=b["id"]).status == "open"


def test_unverified_address_earns_nothing_until_verified(
    client, integration, unverified, django_capture_on_commit_callbacks
):
    """Issue 11 item 1: someone who registers a forum member's email first used to collect their
    awards and bind their forum id for good. Now events wait until the address is verified."""
    from allauth.account.models import EmailAddress
    from allauth.account.signals import email_confirmed

    from rewards.models import MemberLink

    squatter = UserFactory(email="poster@example.com")
    address = EmailAddress.objects.create(user=squatter, email=squatter.email, primary=True, verified=False)
    first = signed_post(client, event_body(user={"email": "poster@example.com", "external_id": 42}))
    assert first.status_code == 202 and first.json()["status"] == "pending"
    assert not MemberLink.objects.exists()
    assert balance_for_user(user_id=squatter.pk).balance == 0
    assert services_sweep() == 0  # the sweep does not hand it over either
    address.verified = True
    address.save(update_fields=["verified"])
    with django_capture_on_commit_callbacks(execute=True):
        email_confirmed.send(sender=EmailAddress, request=None, email_address=address)
    assert ActivityEvent.objects.get().status == EventStatus.APPLIED
    assert balance_for_user(user_id=squatter.pk).balance == 2000
    # A later event links the forum id, now that the address is proven.
    signed_post(client, event_body(event_id="evt-2", user={"email": "poster@example.com", "external_id": 42}))
    assert MemberLink.objects.get().user == squatter


def services_sweep():
    from rewards import services

    return services.pending_events_sweep()


def test_member_links_are_visible_and_undoable_not_editable_in_admin(client, integration, admin_user):
    from rewards.models import MemberLink

    member = UserFactory(email="poster@example.com")
    signed_post(client, event_body(user={"email": "poster@example.com", "external_id": 42}))
    link = MemberLink.objects.get(user=member)
    client.force_login(admin_user)
    assert "42" in client.get("/admin/rewards/memberlink/").content.decode()
    page = client.get(f"/admin/rewards/memberlink/{link.pk}/change/").content.decode()
    assert 'name="user"' not in page and 'name="external_id"' not in page  # not re-pointable
    client.post(f"/admin/rewards/memberlink/{link.pk}/delete/", {"post": "yes"})
    assert not MemberLink.objects.exists()
