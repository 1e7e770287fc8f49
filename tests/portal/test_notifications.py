"""The notification centre: what the apps below tell a member lands in their list (once per
event), with the reason; read / unread kept; the header shows the unread count."""

import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import translation

from core.events import Delivered, Event
from portal import handlers
from portal.models import Notification, NotificationKind
from portal.notifications import message
from rewards import services as rewards
from rewards.models import Award
from tests.factories import UserFactory, forum_event, fund, staff, verify_email
from wallet import services as wallet

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _english():
    """Messages render in the active language; these assertions read English."""
    with translation.override("en"):
        yield


@pytest.fixture
def member():
    user = UserFactory()
    fund(user, "10.00")
    return user


def approve_adjustment(member, amount, reason, capture):
    maker = staff("wallet.request_adjustment")
    checker = staff("wallet.approve_adjustment")
    req = wallet.adjustment_request(
        account=wallet.user_account(user_id=member.pk), amount=amount, reason=reason, requested_by_id=maker.pk
    )
    with capture(execute=True):
        wallet.adjustment_approve(request_id=req.pk, approver_id=checker.pk)


def test_an_approved_adjustment_notifies_the_member_with_the_reason(member, django_capture_on_commit_callbacks):
    approve_adjustment(member, 250, "Goodwill for a failed download", django_capture_on_commit_callbacks)
    note = Notification.objects.get(user=member)
    assert note.kind == NotificationKind.ADJUSTMENT and note.read_at is None
    money = f"2.50 {settings.GOLDBOOK_CURRENCY_NAME}"
    assert message(note) == f"Staff added {money} to your balance. Reason: Goodwill for a failed download."


def test_awards_and_their_reversal_notify_with_the_reason(member, django_capture_on_commit_callbacks):
    verify_email(member)
    with django_capture_on_commit_callbacks(execute=True):
        forum_event(member.email, "answer.accepted", "a1")
    with django_capture_on_commit_callbacks(execute=True):
        rewards.award_reverse(award_id=Award.objects.get(user=member).pk, reason="answer un-accepted")
    award, reversal = Notification.objects.filter(user=member).order_by("id")
    assert award.kind == NotificationKind.AWARD and f"You earned 20.00 {settings.GOLDBOOK_CURRENCY_NAME}" in message(
        award
    )
    assert reversal.kind == NotificationKind.AWARD_REVERSED
    assert message(reversal) == (
        f"A reward of 20.00 {settings.GOLDBOOK_CURRENCY_NAME} was reversed. Reason: answer un-accepted."
    )


def test_a_redelivered_event_notifies_once(member):
    event = Delivered(
        event_id=99,
        name=Event.ADJUSTMENT_APPROVED,
        payload={"request_id": 1, "user_id": member.pk, "amount": -100, "reason": "typo"},
    )
    handlers.adjustment_approved(event)
    handlers.adjustment_approved(event)
    assert Notification.objects.filter(user=member).count() == 1


def test_the_list_page_marks_read_and_the_header_counts_unread(client, member, django_capture_on_commit_callbacks):
    approve_adjustment(member, 100, "first", django_capture_on_commit_callbacks)
    approve_adjustment(member, 200, "second", django_capture_on_commit_callbacks)
    client.force_login(member)
    page = client.get(reverse("portal:notifications")).content.decode()
    assert page.index("Reason: second") < page.index("Reason: first")  # newest first
    assert 'data-live="unread"' in page and ">2</span>" in page

    newest = Notification.objects.filter(user=member).first()
    response = client.post(reverse("portal:notification_read", args=[newest.pk]))
    assert response.status_code == 302
    newest.refresh_from_db()
    assert newest.read_at is not None
    assert client.get(reverse("portal:live_state")).json()["unread"] == 1

    client.post(reverse("portal:notifications_read_all"))
    assert not Notification.objects.filter(user=member, read_at__isnull=True).exists()
    assert client.get(reverse("portal:live_state")).json()["unread"] == 0


def test_a_member_cannot_mark_another_members_notification(client, member, django_capture_on_commit_callbacks):
    approve_adjustment(member, 100, "theirs", django_capture_on_commit_callbacks)
    client.force_login(UserFactory())
    note = Notification.objects.get(user=member)
    assert client.post(reverse("portal:notification_read", args=[note.pk])).status_code == 404
    assert client.get(reverse("portal:notification_read", args=[note.pk])).status_code == 405
    note.refresh_from_db()
    assert note.read_at is None


def test_empty_state_and_sign_in_required(client, member):
    assert client.get(reverse("portal:notifications")).status_code == 302
    assert client.get(reverse("portal:live_state")).status_code == 302
    client.force_login(member)
    page = client.get(reverse("portal:notifications")).content.decode()
    assert 'data-testid="notifications-empty"' in page


def test_the_live_state_answers_the_balance_figures(client, member):
    client.force_login(member)
    state = client.get(reverse("portal:live_state")).json()
    assert state["balance"]["type"] == "balance"
    assert state["balance"]["available"] == "10.00" and state["balance"]["available_minor"] == 1000
    assert state["unread"] == 0


def test_notifications_read_in_chinese(member, django_capture_on_commit_callbacks):
    approve_adjustment(member, 250, "补偿", django_capture_on_commit_callbacks)
    note = Notification.objects.get(user=member)
    with translation.override("zh-hans"):
        text = message(note)
        kind = note.get_kind_display()
    assert "余额" in text and "补偿" in text
    assert kind != "Balance adjustment"


def test_promotional_credits_are_announced_before_they_expire_and_when_they_do(member):
    """Issue 13: expiry is announced beforehand; the wallet records the events, portal tells the
    member, with the date in their time zone."""
    from datetime import timedelta

    from core.models import OutboxEvent
    from core.outbox import deliver
    from wallet.lots import CreditLot

    issuance = wallet.system_account(name="issuance")
    grant = wallet.transfer_post(
        from_account=issuance,
        to_account=wallet.user_account(user_id=member.pk),
        amount=300,
        kind="adjustment",
        idempotency_key="welcome-1",
        credit_source="welcome",
    )
    lot = CreditLot.objects.get(source_transfer=grant)
    wallet.credits_announce_expiring(now=lot.expires_at - timedelta(days=3))
    wallet.credits_expire(now=lot.expires_at)
    for event in OutboxEvent.objects.filter(name__in=[Event.CREDITS_EXPIRING, Event.CREDITS_EXPIRED]):
        deliver(event.pk)
    expiring, expired = Notification.objects.filter(user=member).order_by("id")
    assert expiring.kind == NotificationKind.CREDITS_EXPIRING
    assert message(expiring).startswith(f"3.00 {settings.GOLDBOOK_CURRENCY_NAME} of your promotional balance expire")
    assert expired.kind == NotificationKind.CREDITS_EXPIRED
    assert message(expired) == f"3.00 {settings.GOLDBOOK_CURRENCY_NAME} of your promotional balance expired unspent."
