"""Issue 10, item 2: redeeming and offering a bounty take an Idempotency-Key header (an alias of
the body's idempotency_key), retried safely, charged once, and answered from what committed."""

import pytest

from accounts.services import api_session_create
from rewards.models import Bounty, Redemption
from tests.dbfaults import database_fails_after
from tests.factories import RewardFactory, UserFactory, fund
from wallet.models import Transfer
from wallet.selectors import balance_for_user

pytestmark = pytest.mark.django_db


def post(client, user, path, body, key=None):
    headers = {"HTTP_AUTHORIZATION": "Bearer " + api_session_create(user=user, ip=None, user_agent="t")[1]}
    if key is not None:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    return client.post(path, body, content_type="application/json", **headers)


# --- redeem -------------------------------------------------------------------------------------


def test_redeem_with_the_header_twice_is_one_redemption(client):
    reward = RewardFactory(price=1000)
    user = UserFactory()
    fund(user, "50.00")
    first = post(client, user, "/api/rewards/redeem", {"reward_id": reward.pk}, key="r-1")
    again = post(client, user, "/api/rewards/redeem", {"reward_id": reward.pk}, key="r-1")
    assert first.status_code == again.status_code == 201, (first.content, again.content)
    assert again.json() == first.json()
    assert Redemption.objects.count() == 1 and Transfer.objects.filter(kind="redeem").count() == 1
    assert balance_for_user(user_id=user.pk).balance == 4000


def test_redeem_header_and_body_key_are_one_key(client):
    reward = RewardFactory(price=1000)
    user = UserFactory()
    fund(user, "50.00")
    by_body = post(client, user, "/api/rewards/redeem", {"reward_id": reward.pk, "idempotency_key": "same"})
    by_header = post(client, user, "/api/rewards/redeem", {"reward_id": reward.pk}, key="same")
    assert by_header.json()["redemption_id"] == by_body.json()["redemption_id"]
    assert Redemption.objects.count() == 1


def test_redeem_header_and_body_key_must_agree(client):
    reward = RewardFactory(price=1000)
    user = UserFactory()
    fund(user, "50.00")
    resp = post(client, user, "/api/rewards/redeem", {"reward_id": reward.pk, "idempotency_key": "a"}, key="b")
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_request"
    assert not Redemption.objects.exists()


def test_redeem_same_key_for_another_reward_is_409(client):
    one, two = RewardFactory(price=1000), RewardFactory(price=1000)
    user = UserFactory()
    fund(user, "50.00")
    post(client, user, "/api/rewards/redeem", {"reward_id": one.pk}, key="r-2")
    other = post(client, user, "/api/rewards/redeem", {"reward_id": two.pk}, key="r-2")
    assert other.status_code == 409 and other.json()["error"] == "idempotency_conflict"


def test_redeem_bad_header_is_400(client):
    reward = RewardFactory(price=1000)
    user = UserFactory()
    fund(user, "50.00")
    resp = post(client, user, "/api/rewards/redeem", {"reward_id": reward.pk}, key="x" * 101)
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_request"


def test_redeem_is_answered_201_when_the_database_fails_after_commit(client):
    reward = RewardFactory(price=1000)
    user = UserFactory()
    fund(user, "50.00")
    with database_fails_after("rewards.services.reward_redeem"):
        resp = post(client, user, "/api/rewards/redeem", {"reward_id": reward.pk}, key="r-3")
    assert resp.status_code == 201, resp.content
    assert resp.json()["new_balance"] == 40 and resp.json()["coins_spent"] == 10


# --- bounties -----------------------------------------------------------------------------------


def _bounty(coins="25.00", title="Fix my EA"):
    return {"thread_ref": "t/1", "title": title, "coins": coins}


def test_bounty_with_the_header_twice_is_one_escrow(client):
    user = UserFactory()
    fund(user, "50.00")
    first = post(client, user, "/api/rewards/bounties", _bounty(), key="b-1")
    again = post(client, user, "/api/rewards/bounties", _bounty(), key="b-1")
    assert first.status_code == again.status_code == 201, (first.content, again.content)
    assert again.json()["id"] == first.json()["id"]
    assert Bounty.objects.count() == 1 and balance_for_user(user_id=user.pk).balance == 2500


def test_bounty_same_key_different_offer_is_409(client):
    user = UserFactory()
    fund(user, "50.00")
    post(client, user, "/api/rewards/bounties", _bounty(), key="b-2")
    other = post(client, user, "/api/rewards/bounties", _bounty(coins="30.00"), key="b-2")
    assert other.status_code == 409 and other.json()["error"] == "idempotency_conflict"
    assert Bounty.objects.count() == 1


def test_bounty_header_and_body_key_must_agree(client):
    user = UserFactory()
    fund(user, "50.00")
    resp = post(client, user, "/api/rewards/bounties", {**_bounty(), "idempotency_key": "a"}, key="b")
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_request"
    assert not Bounty.objects.exists()


def test_bounty_is_answered_201_when_the_database_fails_after_the_escrow(client):
    user = UserFactory()
    fund(user, "50.00")
    with database_fails_after("rewards.services.bounty_create"):
        resp = post(client, user, "/api/rewards/bounties", _bounty(), key="b-3")
    assert resp.status_code == 201, resp.content
    assert resp.json()["coins"] == 25 and resp.json()["offered_by"]
