"""The fraud review queue in the admin (issue 13): permission-gated, POST forms with CSRF and a
required reason, hold history on the member's admin page."""

import pytest
from django.test import Client

from tests.factories import UserFactory, staff
from tests.portal.test_fraud_signals import WALLET, pay
from wallet.models import MemberHold
from wallet.selectors import member_on_hold

pytestmark = pytest.mark.django_db

URL = "/admin/review-queue/"


@pytest.fixture
def crafted():
    a, b = UserFactory(), UserFactory()
    pay(a, 2500, wallet_address=WALLET)
    pay(b, 2500, wallet_address=WALLET)
    return a, b


def signed_in(user, **kwargs):
    client = Client(**kwargs)
    client.force_login(user)
    return client


def test_the_queue_shows_signals_with_evidence_to_reviewers_only(crafted):
    a, _b = crafted
    page = signed_in(staff("wallet.review_fraud")).get(URL)
    assert page.status_code == 200
    html = page.content.decode()
    assert WALLET in html and a.email in html
    assert f"/admin/accounts/user/{a.pk}/change/" in html and "/admin/payments/payment/" in html
    assert signed_in(staff()).get(URL).status_code == 403  # staff without the permission
    refused = signed_in(UserFactory()).get(URL)  # a member: the admin's login
    assert refused.status_code == 302 and "/admin/login/" in refused["Location"]
    assert Client().get(URL).status_code == 302


def test_hold_needs_a_reason_and_csrf_then_lift_restores(crafted):
    a, _b = crafted
    reviewer = staff("wallet.review_fraud", "accounts.view_user", "wallet.view_memberhold")
    client = signed_in(reviewer)
    html = client.get(URL).content.decode()
    key = html.split('name="key" value="')[1].split('"')[0]
    fingerprint = html.split('name="fingerprint" value="')[1].split('"')[0]
    form = {"action": "hold", "key": key, "fingerprint": fingerprint, "user_id": a.pk}
    assert signed_in(reviewer, enforce_csrf_checks=True).post(URL, {**form, "reason": "x"}).status_code == 403
    client.post(URL, {**form, "reason": ""})
    assert not member_on_hold(user_id=a.pk)
    done = client.post(URL, {**form, "reason": "Stolen card"}, follow=True)
    assert member_on_hold(user_id=a.pk)
    assert f"Member #{a.pk} is on hold." in done.content.decode()
    assert 'data-testid="held-member"' in done.content.decode() and WALLET not in done.content.decode()
    history = client.get(f"/admin/accounts/user/{a.pk}/change/").content.decode()
    assert "Stolen card" in history
    client.post(URL, {"action": "lift", "user_id": a.pk, "reason": "Card owner confirmed"})
    assert not member_on_hold(user_id=a.pk)
    assert list(MemberHold.objects.filter(user=a).order_by("id").values_list("action", "created_by")) == [
        ("hold", reviewer.pk),
        ("clear", reviewer.pk),
    ]
    assert client.get("/admin/wallet/memberhold/").status_code == 200


def test_clearing_a_signal_from_the_queue(crafted):
    client = signed_in(staff("wallet.review_fraud"))
    html = client.get(URL).content.decode()
    key = html.split('name="key" value="')[1].split('"')[0]
    fingerprint = html.split('name="fingerprint" value="')[1].split('"')[0]
    client.post(URL, {"action": "clear", "key": key, "fingerprint": fingerprint, "reason": "Couple"})
    assert WALLET not in client.get(URL).content.decode()
