"""The seams between apps: sign-up → rewards, payments → referrals, EA review → awards."""

from decimal import Decimal

import pytest
from allauth.account.models import EmailAddress, EmailConfirmationHMAC
from django.contrib.messages.storage.fallback import FallbackStorage
from django.contrib.sessions.backends.db import SessionStore
from django.test import RequestFactory

from accounts.models import User
from downloads import services as downloads
from payments import services as payments
from rewards import services as rewards
from rewards.models import Award, AwardStatus, Referral, ReferralStatus
from tests.factories import UserFactory, credit_package, forum_event, make_item, staff
from wallet.models import TransferKind
from wallet.selectors import balance_for_user

pytestmark = pytest.mark.django_db


def credits(user: User) -> Decimal:
    return balance_for_user(user_id=user.pk).balance_decimal


def test_web_sign_up_through_a_referral_link_then_first_purchase_pays_the_referrer_once(
    client, settings, django_capture_on_commit_callbacks
):
    settings.DEBUG = True  # the demo payment method
    referrer = UserFactory()
    code = rewards.profile_ensure(user_id=referrer.pk).referral_code

    client.get(f"/r/{code}")
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/accounts/signup/", {"email": "friend@example.com", "password1": "58203"}, REMOTE_ADDR="203.0.113.9"
        )
    assert response.status_code == 302
    friend = User.objects.get(email="friend@example.com")
    assert Referral.objects.get(referred=friend).referrer_id == referrer.pk

    for _ in range(2):  # a second purchase pays nobody again
        payment = payments.demo_checkout(user=friend, quote=payments.quote(package_id=credit_package().pk))
        with django_capture_on_commit_callbacks(execute=True):
            payments.demo_pay(payment_id=payment.pk, user=friend)

    assert Referral.objects.get(referred=friend).status == ReferralStatus.PAID
    assert credits(referrer) == Decimal("10.00")  # the seed's referral reward
    assert credits(friend) == Decimal("150.00")  # two Popular packs, 75 each


def _request_for(user: User):
    request = RequestFactory().get("/")
    request.user = user
    request.session = SessionStore()
    request._messages = FallbackStorage(request)
    return request


def test_forum_activity_before_sign_up_is_applied_when_the_member_registers(client, django_capture_on_commit_callbacks):
    result = forum_event("early@example.com", "answer.accepted", "a-1")
    assert not Award.objects.exists()  # stored: nobody has that email yet

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            "/api/users/register", {"email": "early@example.com", "pin": "58203"}, content_type="application/json"
        )
    assert response.status_code == 201
    member = User.objects.get(email="early@example.com")
    # Issue 11 item 1: registering an address is not owning it; the award waits for verification.
    assert not Award.objects.exists()
    address = EmailAddress.objects.get(user=member, email__iexact="early@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        EmailConfirmationHMAC(address).confirm(_request_for(member))
    award = Award.objects.get(user=member)
    assert award.status == AwardStatus.ACTIVE
    assert credits(member) == Decimal("20.00")  # accepted answer +20
    assert result.event.pk == award.event_id


def test_verifying_an_ea_pays_its_uploader_and_withdrawing_it_claws_back(
    settings, tmp_path, django_capture_on_commit_callbacks
):
    settings.MEDIA_ROOT = tmp_path / "media"
    uploader = UserFactory()
    reviewer = staff()
    ea = make_item(title="Gold Scalper", kind="ea", uploader=uploader, filename="scalper.ex4")

    for _ in range(2):  # idempotent: paid once
        with django_capture_on_commit_callbacks(execute=True):
            downloads.ea_verify(item_id=ea.pk, staff_id=reviewer.pk)
    assert credits(uploader) == Decimal("50.00")  # verified EA +50
    assert Award.objects.get(user=uploader).transfer.kind == TransferKind.EARN

    with django_capture_on_commit_callbacks(execute=True):
        downloads.ea_reject(item_id=ea.pk, staff_id=reviewer.pk, note="Backtest could not be reproduced.")
    assert credits(uploader) == Decimal("0.00")
    assert Award.objects.get(user=uploader).status != AwardStatus.ACTIVE
