"""rewards' event handlers (rewards/handlers.py): wired to their events, and idempotent. The
outbox delivers at least once, so each test delivers the same event twice and expects one effect."""

import pytest
from django.db import transaction

from core.events import Delivered, Event, handlers_for, record
from rewards import handlers, services
from rewards.models import ActivityEvent, Award, AwardStatus, EventStatus, Referral, ReferralStatus
from tests.factories import UserFactory, forum_event
from wallet.models import Transfer, TransferKind
from wallet.selectors import balance_for_user

pytestmark = pytest.mark.django_db


def bal(user):
    return balance_for_user(user_id=user.pk).balance


def delivered(name, payload, event_id=1):
    return Delivered(event_id=event_id, name=name, payload=payload)


def test_each_handler_is_subscribed_to_its_event():
    assert "rewards.member_joined" in [s.name for s in handlers_for(Event.MEMBER_JOINED)]
    assert "rewards.purchase_completed" in [s.name for s in handlers_for(Event.PURCHASE_COMPLETED)]
    assert "rewards.ea_reviewed" in [s.name for s in handlers_for(Event.EA_REVIEWED)]


def test_member_joined_attaches_the_referral_and_applies_waiting_events_once():
    referrer = UserFactory()
    code = services.profile_ensure(user_id=referrer.pk).referral_code
    forum_event("late@example.com", "answer.accepted", "a1")  # before the member exists: kept
    assert ActivityEvent.objects.get().status == EventStatus.PENDING
    newcomer = UserFactory(email="late@example.com")
    event = delivered(Event.MEMBER_JOINED, {"user_id": newcomer.pk, "ip": "198.51.100.7", "referral_code": code})
    handlers.member_joined(event)
    handlers.member_joined(event)
    referral = Referral.objects.get()
    assert (referral.referrer_id, referral.referred_id, referral.status) == (
        referrer.pk,
        newcomer.pk,
        ReferralStatus.ATTACHED,
    )
    assert ActivityEvent.objects.get().status == EventStatus.APPLIED
    assert Award.objects.count() == 1 and bal(newcomer) == 2000


def test_member_joined_with_a_bad_code_still_applies_events():
    newcomer = UserFactory(email="bad-code@example.com")
    forum_event(newcomer.email, "answer.accepted", "a2")
    handlers.member_joined(delivered(Event.MEMBER_JOINED, {"user_id": newcomer.pk, "ip": None, "referral_code": "zz"}))
    assert not Referral.objects.exists()
    assert bal(newcomer) == 2000


def test_purchase_completed_pays_the_referrer_once():
    referrer, newcomer = UserFactory(), UserFactory()
    services.referral_attach(
        user_id=newcomer.pk, code=services.profile_ensure(user_id=referrer.pk).referral_code, ip=None
    )
    event = delivered(Event.PURCHASE_COMPLETED, {"payment_id": 41, "user_id": newcomer.pk, "wallet_address": ""})
    handlers.purchase_completed(event)
    handlers.purchase_completed(event)
    # A second purchase is not a first purchase either.
    handlers.purchase_completed(
        delivered(Event.PURCHASE_COMPLETED, {"payment_id": 42, "user_id": newcomer.pk, "wallet_address": ""}, 2)
    )
    referral = Referral.objects.get()
    assert referral.status == ReferralStatus.PAID and referral.purchase_ref == "payment:41"
    assert bal(referrer) == 1000


def test_purchase_completed_for_a_member_nobody_referred_does_nothing():
    buyer = UserFactory()
    handlers.purchase_completed(
        delivered(Event.PURCHASE_COMPLETED, {"payment_id": 7, "user_id": buyer.pk, "wallet_address": "0xabc"})
    )
    assert not Referral.objects.exists() and not Award.objects.exists()


def ea_payload(uploader, *, verified, was_verified, item_id=9):
    return {
        "item_id": item_id,
        "uploader_id": uploader.pk if uploader else None,
        "verified": verified,
        "was_verified": was_verified,
    }


def test_ea_verified_awards_the_uploader_once_and_withdrawal_claws_it_back_once():
    uploader = UserFactory()
    verified = delivered(Event.EA_REVIEWED, ea_payload(uploader, verified=True, was_verified=False))
    handlers.ea_reviewed(verified)
    handlers.ea_reviewed(verified)
    assert bal(uploader) == 5000 and Award.objects.get().status == AwardStatus.ACTIVE
    withdrawn = delivered(Event.EA_REVIEWED, ea_payload(uploader, verified=False, was_verified=True), 2)
    handlers.ea_reviewed(withdrawn)
    handlers.ea_reviewed(withdrawn)
    assert bal(uploader) == 0 and Award.objects.get().status == AwardStatus.REVERSED
    assert Transfer.objects.filter(kind=TransferKind.EARN).count() == 1
    assert Transfer.objects.filter(kind=TransferKind.REVERSAL).count() == 1


def test_ea_reviewed_without_an_uploader_or_a_verification_does_nothing():
    uploader = UserFactory()
    handlers.ea_reviewed(delivered(Event.EA_REVIEWED, ea_payload(None, verified=True, was_verified=False)))
    handlers.ea_reviewed(delivered(Event.EA_REVIEWED, ea_payload(uploader, verified=False, was_verified=False)))
    assert not ActivityEvent.objects.exists() and bal(uploader) == 0


def test_an_event_recorded_in_a_transaction_reaches_the_handler_after_commit(django_capture_on_commit_callbacks):
    uploader = UserFactory()
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            record(Event.EA_REVIEWED, ea_payload(uploader, verified=True, was_verified=False, item_id=12))
            assert bal(uploader) == 0  # nothing before commit
    assert bal(uploader) == 5000
