"""A member on hold for review (issue 13), through each app's own spending path: the wallet
refuses every way coins leave them, the member reads why on pages and in the API, their
purchases still credit, and clearing restores all of it."""

import pytest
from django.test import Client

from downloads import services as downloads
from payments import services as payments
from payments.errors import RefundNotAllowed
from payments.models import RefundRequest, RefundStatus
from rewards import services as rewards
from rewards.models import Bounty, Reward
from tests.factories import RewardFactory, UserFactory, api_token, credit_package, fund, make_item, staff, verify_email
from tests.rewards.conftest import answer
from wallet import services as wallet
from wallet.errors import AccountOnHold
from wallet.selectors import balance_for_user

pytestmark = pytest.mark.django_db

REVIEWER = ("wallet.review_fraud",)


def hold(member, reason="Shared wallet"):
    wallet.member_hold(user_id=member.pk, reason=reason, staff_id=staff(*REVIEWER).pk)


def bal(member):
    return balance_for_user(user_id=member.pk).balance


def test_every_spending_path_is_refused_and_clearing_restores_it():
    member = UserFactory()
    fund(member, "100.00")
    song = make_item(price=35)
    reward = RewardFactory(price=1000, stock=3)
    hold(member)
    with pytest.raises(AccountOnHold):
        downloads.item_download(user=member, item_id=song.pk)
    with pytest.raises(AccountOnHold):
        downloads.job_start(user=member, requested_songs=1)
    with pytest.raises(AccountOnHold):
        rewards.reward_redeem(user_id=member.pk, reward_id=reward.pk)
    with pytest.raises(AccountOnHold):
        rewards.bounty_create(offerer_id=member.pk, thread_ref="t/1", title="Help", amount=2000)
    assert bal(member) == 10000
    assert Reward.objects.get(pk=reward.pk).stock == 3  # the refused redemption rolled back
    wallet.member_clear(user_id=member.pk, reason="Verified by phone", staff_id=staff(*REVIEWER).pk)
    downloads.item_download(user=member, item_id=song.pk)
    rewards.reward_redeem(user_id=member.pk, reward_id=reward.pk)
    assert bal(member) == 10000 - 35 - 1000


def test_a_bounty_the_held_member_funded_is_not_paid_out_until_cleared():
    offerer, winner = UserFactory(), UserFactory()
    fund(offerer, "30.00")
    bounty = rewards.bounty_create(offerer_id=offerer.pk, thread_ref="t/9", title="Help", amount=2000)
    verify_email(winner)  # events credit a verified address only
    answer(winner, "t/9", "ans-1")
    hold(offerer)
    with pytest.raises(AccountOnHold):
        rewards.bounty_award(bounty_id=bounty.pk, actor_id=offerer.pk, answer_id="ans-1")
    assert bal(winner) == 0 and Bounty.objects.get(pk=bounty.pk).status == "open"
    wallet.member_clear(user_id=offerer.pk, reason="Cleared", staff_id=staff(*REVIEWER).pk)
    rewards.bounty_award(bounty_id=bounty.pk, actor_id=offerer.pk, answer_id="ans-1")
    assert bal(winner) == 2000


def test_purchases_still_credit_a_held_member_and_their_refund_waits(settings, django_capture_on_commit_callbacks):
    settings.DEBUG = True  # the demo payment method
    member = UserFactory()
    hold(member)
    payment = payments.demo_checkout(user=member, quote=payments.quote(package_id=credit_package().pk))
    with django_capture_on_commit_callbacks(execute=True):
        payments.demo_pay(payment_id=payment.pk, user=member)
    assert bal(member) == 7500  # the Popular pack: 50 + 25 bonus
    maker, checker = staff("payments.request_refund"), staff("payments.approve_refund")
    req = payments.refund_request(payment_id=payment.pk, requested_by_id=maker.pk, reason="Asked")
    with pytest.raises(RefundNotAllowed, match="on hold"):
        payments.refund_approve(request_id=req.pk, approver_id=checker.pk)
    assert RefundRequest.objects.get(pk=req.pk).status == RefundStatus.REQUESTED
    assert bal(member) == 7500


def test_the_member_reads_why_in_the_api_and_on_pages(client):
    member = UserFactory()
    fund(member, "10.00")
    song = make_item(price=35)
    hold(member)
    api = Client()
    response = api.post(
        f"/api/items/{song.pk}/download",
        {},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {api_token(member)}",
    )
    assert response.status_code == 403
    assert response.json()["error"] == "account_on_hold"
    assert "on hold for review" in response.json()["message"]
    client.force_login(member)
    page = client.get("/", follow=True)
    assert b'data-testid="on-hold-banner"' in page.content
    refused = client.post(f"/downloads/items/{song.pk}/download/", {"confirm": "1"})
    assert refused.status_code == 403 and "on hold for review" in refused.content.decode()
    zh = client.get("/", follow=True, headers={"accept-language": "zh-hans"})
    assert b'data-testid="on-hold-banner"' in zh.content
