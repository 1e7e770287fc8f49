import pytest

from accounts.services import api_session_create
from core import registry
from rewards import services
from rewards.errors import ReferralRefused
from rewards.models import Referral, ReferralStatus
from tests.factories import UserFactory
from wallet.selectors import balance_for_user

pytestmark = pytest.mark.django_db


def code_of(user):
    return services.profile_ensure(user_id=user.pk).referral_code


def test_referrer_is_paid_once_on_first_purchase():
    referrer, newcomer = UserFactory(), UserFactory()
    referral = services.referral_attach(user_id=newcomer.pk, code=code_of(referrer), ip="10.0.0.9")
    assert referral.status == ReferralStatus.ATTACHED
    services.referral_on_first_purchase(user_id=newcomer.pk, purchase_ref="payment:1")
    services.referral_on_first_purchase(user_id=newcomer.pk, purchase_ref="payment:2")
    assert balance_for_user(user_id=referrer.pk).balance == 1000
    assert Referral.objects.get().status == ReferralStatus.PAID
    assert balance_for_user(user_id=newcomer.pk).balance == 0


def test_self_referral_and_bad_codes_are_refused():
    user = UserFactory()
    with pytest.raises(ReferralRefused):
        services.referral_attach(user_id=user.pk, code=code_of(user), ip=None)
    with pytest.raises(ReferralRefused):
        services.referral_attach(user_id=user.pk, code="nope", ip=None)


def test_first_referral_sticks():
    a, b, newcomer = UserFactory(), UserFactory(), UserFactory()
    services.referral_attach(user_id=newcomer.pk, code=code_of(a), ip=None)
    assert services.referral_attach(user_id=newcomer.pk, code=code_of(b), ip=None).referrer_id == a.pk


def test_same_ip_is_held_for_review_then_staff_decide():
    referrer, newcomer = UserFactory(), UserFactory()
    api_session_create(user=referrer, ip="203.0.113.5", user_agent="t")
    referral = services.referral_attach(user_id=newcomer.pk, code=code_of(referrer), ip="203.0.113.5")
    assert referral.same_ip
    held = services.referral_on_first_purchase(user_id=newcomer.pk, purchase_ref="p1")
    assert held.status == ReferralStatus.REVIEW
    assert balance_for_user(user_id=referrer.pk).balance == 0
    services.referral_review(referral_id=held.pk, approve=True, staff_id=None)
    assert balance_for_user(user_id=referrer.pk).balance == 1000


def wallets(user_id):
    return ["0xABC"] if user_id == wallets.referrer else []


def test_same_wallet_is_held_for_review(monkeypatch):
    referrer, newcomer = UserFactory(), UserFactory()
    wallets.referrer = referrer.pk
    monkeypatch.setitem(registry._wallet_addresses, "test", wallets)
    services.referral_attach(user_id=newcomer.pk, code=code_of(referrer), ip=None)
    held = services.referral_on_first_purchase(user_id=newcomer.pk, purchase_ref="p1", wallet_address="0xabc")
    assert held.same_wallet and held.status == ReferralStatus.REVIEW
    services.referral_review(referral_id=held.pk, approve=False, staff_id=None)
    assert Referral.objects.get().status == ReferralStatus.REJECTED


def test_not_referred_is_a_no_op():
    assert services.referral_on_first_purchase(user_id=UserFactory().pk, purchase_ref="x") is None


def test_landing_view_stores_code_in_session(client):
    referrer = UserFactory(display_name="Ref")
    code = code_of(referrer)
    response = client.get(f"/r/{code}")
    assert response.status_code == 302
    assert client.session["referral_code"] == code
    bad = client.get("/r/zzzzzz", follow=True)
    assert "not valid" in bad.content.decode()
    assert "referral_code" in client.session  # the good code is kept


def test_legacy_referral_purchase_task_still_pays_once():
    """Messages queued before PURCHASE_COMPLETED went through the outbox still pay, once."""
    from rewards.tasks import referral_purchase

    referrer, newcomer = UserFactory(), UserFactory()
    services.referral_attach(user_id=newcomer.pk, code=code_of(referrer), ip=None)
    assert referral_purchase.apply(args=[newcomer.pk, "payment:5", ""]).get() == ReferralStatus.PAID
    referral_purchase.apply(args=[newcomer.pk, "payment:5", ""])
    assert balance_for_user(user_id=referrer.pk).balance == 1000


def test_same_ip_as_a_web_sign_in_is_held_and_listed_in_the_admin(client, admin_user):
    """Issue 11 item 6: the check read API session addresses only, so sock accounts made in a
    browser paid the referrer every time."""
    from tests.factories import DEFAULT_PIN

    referrer, newcomer = UserFactory(), UserFactory()
    signed_in = client.post(
        "/accounts/login/", {"login": referrer.email, "password": DEFAULT_PIN}, REMOTE_ADDR="198.51.100.7"
    )
    assert signed_in.status_code == 302
    client.logout()
    referral = services.referral_attach(user_id=newcomer.pk, code=code_of(referrer), ip="198.51.100.7")
    assert referral.same_ip
    held = services.referral_on_first_purchase(user_id=newcomer.pk, purchase_ref="p1")
    assert held.status == ReferralStatus.REVIEW
    assert balance_for_user(user_id=referrer.pk).balance == 0
    client.force_login(admin_user)
    page = client.get("/admin/rewards/referral/?status__exact=review").content.decode()
    assert "Held for staff review" in page and "198.51.100.7" in page
