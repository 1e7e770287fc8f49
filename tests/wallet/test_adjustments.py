"""Manual adjustments (maker-checker): services and the admin actions."""

import pytest
from django.urls import reverse

from tests.factories import UserFactory, fund, staff
from wallet import services
from wallet.errors import AdjustmentNotAllowed, InsufficientFunds, InvalidAmount
from wallet.models import AdjustmentRequest, AdjustmentStatus, SystemAccount, Transfer, TransferKind
from wallet.selectors import balance_for_user, system_account_balance

pytestmark = pytest.mark.django_db

MAKER = ("wallet.request_adjustment",)
CHECKER = ("wallet.approve_adjustment", "wallet.view_adjustmentrequest")


@pytest.fixture
def member():
    user = UserFactory()
    fund(user, "10.00")
    return user


@pytest.fixture
def maker():
    return staff(*MAKER, "wallet.view_adjustmentrequest", "wallet.add_adjustmentrequest")


@pytest.fixture
def checker():
    return staff(*CHECKER)


def request(member, maker, amount, reason="Goodwill credit for a failed download"):
    account = services.user_account(user_id=member.pk)
    return services.adjustment_request(account=account, amount=amount, reason=reason, requested_by_id=maker.pk)


def test_request_posts_nothing_until_a_different_staff_member_approves(member, maker, checker):
    req = request(member, maker, 250)
    assert req.status == AdjustmentStatus.REQUESTED and req.transfer is None
    assert balance_for_user(user_id=member.pk).balance == 1000

    approved = services.adjustment_approve(request_id=req.pk, approver_id=checker.pk, note="ok")
    assert approved.status == AdjustmentStatus.APPROVED
    assert approved.decided_by_id == checker.pk and approved.decided_at is not None
    t = approved.transfer
    assert (t.kind, t.amount, t.created_by_id, t.cause) == (TransferKind.ADJUSTMENT, 250, checker.pk, approved)
    assert t.debit_account == services.system_account(name=SystemAccount.ISSUANCE)
    assert balance_for_user(user_id=member.pk).balance == 1250
    with pytest.raises(AdjustmentNotAllowed):  # decided once
        services.adjustment_approve(request_id=req.pk, approver_id=checker.pk)
    with pytest.raises(AdjustmentNotAllowed):
        services.adjustment_reject(request_id=req.pk, approver_id=checker.pk)
    assert balance_for_user(user_id=member.pk).balance == 1250


def test_debit_adjustment_goes_back_to_issuance(member, maker, checker):
    req = request(member, maker, -400, reason="Chargeback")
    services.adjustment_approve(request_id=req.pk, approver_id=checker.pk)
    assert balance_for_user(user_id=member.pk).balance == 600
    issuance = services.system_account(name=SystemAccount.ISSUANCE)
    assert system_account_balance(account=issuance) == -600


def test_four_eyes_refuses_self_approval(member):
    both = staff(*MAKER, *CHECKER)
    req = request(member, both, 100)
    with pytest.raises(AdjustmentNotAllowed, match="different staff"):
        services.adjustment_approve(request_id=req.pk, approver_id=both.pk)
    with pytest.raises(AdjustmentNotAllowed):
        services.adjustment_reject(request_id=req.pk, approver_id=both.pk)
    assert AdjustmentRequest.objects.get(pk=req.pk).status == AdjustmentStatus.REQUESTED


def test_reject_keeps_the_request_and_posts_nothing(member, maker, checker):
    req = request(member, maker, 100)
    rejected = services.adjustment_reject(request_id=req.pk, approver_id=checker.pk, note="no ticket")
    assert (rejected.status, rejected.decision_note, rejected.transfer) == (
        AdjustmentStatus.REJECTED,
        "no ticket",
        None,
    )
    with pytest.raises(AdjustmentNotAllowed):
        services.adjustment_approve(request_id=req.pk, approver_id=checker.pk)
    assert balance_for_user(user_id=member.pk).balance == 1000
    assert not Transfer.objects.filter(kind=TransferKind.ADJUSTMENT).exists()


def test_debit_beyond_available_funds_is_refused_and_stays_pending(member, maker, checker):
    account = services.user_account(user_id=member.pk)
    services.hold_place(account=account, amount=500, kind=TransferKind.DOWNLOAD, idempotency_key="hold")
    req = request(member, maker, -600)
    with pytest.raises(InsufficientFunds):
        services.adjustment_approve(request_id=req.pk, approver_id=checker.pk)
    assert AdjustmentRequest.objects.get(pk=req.pk).status == AdjustmentStatus.REQUESTED
    assert balance_for_user(user_id=member.pk).balance == 1000


def test_permissions_are_enforced_by_the_services(member, maker):
    plain_staff = staff()
    not_staff = UserFactory()
    with pytest.raises(AdjustmentNotAllowed):
        request(member, plain_staff, 100)
    req = request(member, maker, 100)
    for who in (plain_staff, not_staff, staff(*MAKER)):
        with pytest.raises(AdjustmentNotAllowed):
            services.adjustment_approve(request_id=req.pk, approver_id=who.pk)
    inactive = staff(*CHECKER, is_active=False)
    with pytest.raises(AdjustmentNotAllowed):
        services.adjustment_approve(request_id=req.pk, approver_id=inactive.pk)
    assert AdjustmentRequest.objects.get(pk=req.pk).status == AdjustmentStatus.REQUESTED


def test_request_validation(member, maker):
    account = services.user_account(user_id=member.pk)
    for amount in (0, True, 10**16):
        with pytest.raises(InvalidAmount):
            services.adjustment_request(account=account, amount=amount, reason="x", requested_by_id=maker.pk)
    with pytest.raises(AdjustmentNotAllowed):
        services.adjustment_request(account=account, amount=5, reason="   ", requested_by_id=maker.pk)
    issuance = services.system_account(name=SystemAccount.ISSUANCE)
    with pytest.raises(AdjustmentNotAllowed):
        services.adjustment_request(account=issuance, amount=5, reason="x", requested_by_id=maker.pk)


# --- admin --------------------------------------------------------------------------------

CHANGELIST = "admin:wallet_adjustmentrequest_changelist"


def test_admin_add_records_a_request_by_the_signed_in_staff(client, member, maker):
    client.force_login(maker)
    account = services.user_account(user_id=member.pk)
    response = client.post(
        reverse("admin:wallet_adjustmentrequest_add"),
        {"account": account.pk, "amount": "-1.50", "reason": "Duplicate purchase"},
    )
    assert response.status_code == 302, response.content[:2000]
    req = AdjustmentRequest.objects.get()
    assert (req.amount, req.requested_by_id, req.status) == (-150, maker.pk, AdjustmentStatus.REQUESTED)
    assert balance_for_user(user_id=member.pk).balance == 1000


def test_admin_approve_action_posts_with_the_checker(client, member, maker, checker):
    req = request(member, maker, 300)
    client.force_login(checker)
    response = client.post(reverse(CHANGELIST), {"action": "approve", "_selected_action": [req.pk]}, follow=True)
    assert response.status_code == 200
    assert f"Adjustment #{req.pk} approved and posted." in response.content.decode()
    req.refresh_from_db()
    assert req.status == AdjustmentStatus.APPROVED and req.decided_by_id == checker.pk
    assert balance_for_user(user_id=member.pk).balance == 1300


def test_admin_reject_action(client, member, maker, checker):
    req = request(member, maker, 300)
    client.force_login(checker)
    response = client.post(reverse(CHANGELIST), {"action": "reject", "_selected_action": [req.pk]}, follow=True)
    assert f"Adjustment #{req.pk} rejected." in response.content.decode()
    assert AdjustmentRequest.objects.get(pk=req.pk).status == AdjustmentStatus.REJECTED
    assert balance_for_user(user_id=member.pk).balance == 1000


def test_admin_refuses_self_approval_with_a_message(client, member):
    both = staff(*MAKER, *CHECKER)
    req = request(member, both, 300)
    client.force_login(both)
    response = client.post(reverse(CHANGELIST), {"action": "approve", "_selected_action": [req.pk]}, follow=True)
    assert "A different staff member must approve" in response.content.decode()
    assert AdjustmentRequest.objects.get(pk=req.pk).status == AdjustmentStatus.REQUESTED


def test_admin_shows_insufficient_funds_as_an_error(client, member, maker, checker):
    req = request(member, maker, -5000)
    client.force_login(checker)
    response = client.post(reverse(CHANGELIST), {"action": "approve", "_selected_action": [req.pk]}, follow=True)
    assert "Insufficient funds" in response.content.decode()
    assert AdjustmentRequest.objects.get(pk=req.pk).status == AdjustmentStatus.REQUESTED


def test_admin_without_approve_permission_cannot_decide(client, member, maker):
    req = request(member, maker, 300)
    client.force_login(maker)
    assert "Approve and post" not in client.get(reverse(CHANGELIST)).content.decode()
    response = client.post(reverse(CHANGELIST), {"action": "approve", "_selected_action": [req.pk]}, follow=True)
    assert response.status_code == 200
    assert AdjustmentRequest.objects.get(pk=req.pk).status == AdjustmentStatus.REQUESTED
