"""The balance endpoint's fast path: token, member, account and ledger totals in one statement,
ledger sums remembered per process by account version, prepared statements on PostgreSQL.

These run with real commits (transaction=True), as requests do in production: the ledger-sums
memo only remembers sums read outside a transaction, so in rollback-wrapped tests it is never
filled and nothing here would be exercised.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import services
from accounts.models import ApiSession
from portal import selectors
from tests.factories import UserFactory, api_token, fund
from wallet import services as wallet
from wallet import statement
from wallet.models import SystemAccount, TransferKind
from wallet.selectors import default_currency

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _empty_memo():
    statement.sums_memo.clear()
    yield
    statement.sums_memo.clear()


def _spend(user, amount: str, kind: str = TransferKind.DOWNLOAD, key: str | None = None):
    return wallet.transfer_post(
        from_account=wallet.user_account(user_id=user.pk),
        to_account=wallet.system_account(name=SystemAccount.REVENUE),
        amount=default_currency().to_minor(Decimal(amount)),
        kind=kind,
        idempotency_key=key or f"spend:{user.pk}:{amount}:{timezone.now().timestamp()}",
    )


def _balance(api, token):
    response = api("/users/balance", {"session_token": token})
    return response.status_code, response.json()


def _memo_for(token):
    return statement.sums_memo.get(("token", services.token_digest(token)))


# --- revocation and deactivation take effect at once ----------------------------------------------


def test_logout_refuses_the_token_at_once(api):
    user = UserFactory()
    fund(user, "10.00")
    token = api_token(user)
    assert _balance(api, token)[0] == 200
    assert _balance(api, token)[0] == 200  # served through the remembered sums
    assert _memo_for(token) is not None
    assert api("/users/logout", {"session_token": token}).status_code == 200
    assert _balance(api, token)[0] == 401
    assert api("/users/balance", token=token).status_code == 401


def test_signing_out_everywhere_else_refuses_every_token_at_once(api):
    user = UserFactory()
    fund(user, "10.00")
    first, second = api_token(user), api_token(user)
    assert _balance(api, first)[0] == _balance(api, second)[0] == 200
    services.sessions_end_others(user=user, keep_session_key=None)
    assert _balance(api, first)[0] == _balance(api, second)[0] == 401


def test_deactivating_the_member_refuses_the_token_at_once(api):
    user = UserFactory()
    fund(user, "10.00")
    token = api_token(user)
    assert _balance(api, token)[0] == 200
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert _balance(api, token)[0] == 401
    assert api("/users/transactions", token=token).status_code == 401


def test_an_expired_token_is_refused(api):
    user = UserFactory()
    token = api_token(user)
    assert _balance(api, token)[0] == 200
    ApiSession.objects.filter(user=user).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert _balance(api, token)[0] == 401


def test_sliding_expiry_still_writes_at_most_once_a_minute(api):
    user = UserFactory()
    token = api_token(user)
    old = timezone.now() - timedelta(minutes=5)
    ApiSession.objects.filter(user=user).update(last_used_at=old, expires_at=old + timedelta(days=30))
    assert _balance(api, token)[0] == 200
    session = ApiSession.objects.get(user=user)
    assert session.last_used_at > old + timedelta(minutes=4)
    assert session.expires_at > timezone.now() + timedelta(days=29)
    with CaptureQueriesContext(connection) as ctx:
        assert _balance(api, token)[0] == 200
    assert not [q for q in ctx.captured_queries if q["sql"].lstrip().upper().startswith("UPDATE")]


# --- totals stay exact while only new entries are summed --------------------------------------------


def test_totals_follow_every_new_entry(api):
    user = UserFactory()
    token = api_token(user)
    assert _balance(api, token)[1]["total_credits_purchased"] == 0  # no account yet
    fund(user, "50.00", key="buy")
    body = _balance(api, token)[1]
    assert (body["total_credits_purchased"], body["total_credits_spent"]) == (50.0, 0.0)

    fund(user, "25.00", key="bonus", kind=TransferKind.BONUS)
    _spend(user, "10.50", key="dl-1")
    body = _balance(api, token)[1]
    assert (body["credit_balance"], body["total_credits_purchased"], body["total_credits_spent"]) == (64.5, 75.0, 10.5)

    wrong = _spend(user, "1.00", key="dl-2")
    assert _balance(api, token)[1]["total_credits_spent"] == 11.5
    wallet.transfer_reverse(transfer=wrong)  # the reversal nets the refunded download out
    _spend(user, "19.00", TransferKind.REDEEM, key="store-1")
    fund(user, "1.00", key="earned", kind=TransferKind.EARN)  # earned, not purchased
    body = _balance(api, token)[1]
    assert body == {
        "email": user.email,
        "credit_balance": 46.5,
        "available_balance": 46.5,
        "held_balance": 0.0,
        "songs_available": 132,
        "total_credits_purchased": 75.0,
        "total_credits_spent": 29.5,
        "total_songs_downloaded": 0,
        # issue 13's split: the spends drew the promotional credits first
        "paid_balance": 45.5,
        "promotional_balance": 1.0,
        "expiring_soon": 0.0,
    }
    # The same figures as summing the whole history from scratch.
    statement.sums_memo.clear()
    assert _balance(api, token)[1] == body


def test_the_next_request_sums_only_entries_after_the_remembered_version(api):
    user = UserFactory()
    fund(user, "50.00", key="buy")
    token = api_token(user)
    _balance(api, token)
    known = _memo_for(token)
    assert known is not None and known.version == 1 and known.bought == 5000
    _spend(user, "2.00", key="dl-1")
    with CaptureQueriesContext(connection) as ctx:
        assert _balance(api, token)[1]["total_credits_spent"] == 2.0
    statements = [
        q["sql"]
        for q in ctx.captured_queries
        if not q["sql"].startswith("PREPARE") and ("goldbook_summary" in q["sql"] or "wallet_entry" in q["sql"])
    ]
    assert len(statements) == 1, statements
    if connection.vendor == "postgresql":
        assert statements[0].startswith("EXECUTE goldbook_summary_token(1,")  # since version 1
    else:
        assert "account_version > 1" in statements[0]
    assert _memo_for(token).version == 2 and _memo_for(token).spent == -200


def test_a_hold_is_seen_at_once_though_it_changes_no_version(api):
    user = UserFactory()
    fund(user, "10.00")
    token = api_token(user)
    assert _balance(api, token)[1]["available_balance"] == 10.0
    wallet.hold_place(
        account=wallet.user_account(user_id=user.pk),
        amount=400,
        kind=TransferKind.DOWNLOAD,
        idempotency_key="hold-1",
        expires_at=timezone.now() + timedelta(hours=1),
    )
    body = _balance(api, token)[1]
    assert (body["credit_balance"], body["held_balance"], body["available_balance"]) == (10.0, 4.0, 6.0)
    assert body["songs_available"] == 17


def test_sums_read_inside_a_transaction_that_rolls_back_are_not_remembered():
    user = UserFactory()
    fund(user, "10.00", key="committed")
    selectors.account_summary(user_id=user.pk, email=user.email)
    committed = statement.sums_memo.get(("user", user.pk))
    assert committed is not None and committed.version == 1

    class Rollback(Exception):
        pass

    with pytest.raises(Rollback), transaction.atomic():
        fund(user, "5.00", key="rolled-back")
        inside = selectors.account_summary(user_id=user.pk, email=user.email)
        assert inside.total_credits_purchased == Decimal("15.00")  # its own entry, seen inside
        raise Rollback
    assert statement.sums_memo.get(("user", user.pk)) == committed
    fund(user, "1.00", key="after")  # takes version 2, the rolled-back entry's number
    summary = selectors.account_summary(user_id=user.pk, email=user.email)
    assert summary.total_credits_purchased == Decimal("11.00")


def test_remembered_sums_of_another_account_or_a_later_version_are_never_used():
    user = UserFactory()
    fund(user, "10.00")
    account = wallet.user_account(user_id=user.pk)
    bogus = [
        statement.LedgerSums(account.pk + 999, account.created_at, 1, 10**9, -(10**9)),  # another account
        statement.LedgerSums(account.pk, account.created_at, 99, 10**9, -(10**9)),  # a version not reached
    ]
    for sums in bogus:
        statement.sums_memo.put(("user", user.pk), sums)
        summary = selectors.account_summary(user_id=user.pk, email=user.email)
        assert (summary.total_credits_purchased, summary.total_credits_spent) == (Decimal("10.00"), Decimal("0.00"))
        assert statement.sums_memo.get(("user", user.pk)).bought == 1000


def test_the_memo_is_bounded():
    memo = statement.SumsMemo(maxsize=3)
    for n in range(5):
        memo.put(("user", n), statement.LedgerSums(n, None, 0, 0, 0))
    assert memo.get(("user", 0)) is None and memo.get(("user", 1)) is None
    assert memo.get(("user", 4)) is not None


def test_login_and_register_report_the_same_balance(api):
    response = api("/users/register", {"email": "fast@example.com", "pin": "4829"})
    assert response.status_code == 201 and response.json()["credit_balance"] == 0
    from accounts.models import User

    fund(User.objects.get(email="fast@example.com"), "3.50")
    body = api("/users/login", {"email": "fast@example.com", "pin": "4829"}).json()
    assert body["user"]["credit_balance"] == 3.5 and body["user"]["songs_available"] == 10


def test_the_body_is_exactly_what_validating_it_through_the_schema_would_write(api):
    import json

    from core.api import MoneyJSONRenderer
    from portal.api import BalanceOut

    user = UserFactory()
    fund(user, "45.50")
    response = api("/users/balance", token=api_token(user))
    assert response.status_code == 200 and response["Content-Type"] == "application/json; charset=utf-8"
    validated = BalanceOut.model_validate(json.loads(response.content, parse_float=Decimal))
    assert list(json.loads(response.content)) == list(BalanceOut.model_fields)
    assert response.content.decode() == MoneyJSONRenderer().render(None, validated.model_dump(), response_status=200)


def test_the_balance_answer_adds_the_credit_split_after_the_seed_fields(api, settings):
    """The seed's fields stay as they were, in order; paid, promotional and expiring soon follow."""
    settings.GOLDBOOK_CREDIT_EXPIRY_DAYS = {"welcome": 5}  # inside the 7-day notice period
    user = UserFactory()
    token = api_token(user)
    fund(user, "10.00")
    for amount, source, key in (("3.00", None, "bonus"), ("2.00", "welcome", "welcome")):
        wallet.transfer_post(
            from_account=wallet.system_account(name=SystemAccount.PROMOTIONS),
            to_account=wallet.user_account(user_id=user.pk),
            amount=default_currency().to_minor(Decimal(amount)),
            kind=TransferKind.BONUS,
            idempotency_key=key,
            credit_source=source,
        )
    _spend(user, "2.50")  # the welcome credits (soonest to expire), then 0.50 of the bonus
    status, body = _balance(api, token)
    assert status == 200
    assert list(body) == [
        "email",
        "credit_balance",
        "available_balance",
        "held_balance",
        "songs_available",
        "total_credits_purchased",
        "total_credits_spent",
        "total_songs_downloaded",
        "paid_balance",
        "promotional_balance",
        "expiring_soon",
    ]
    assert (body["credit_balance"], body["paid_balance"], body["promotional_balance"]) == (12.5, 10.0, 2.5)
    assert body["expiring_soon"] == 0.0  # the welcome credits were spent first
    wallet.transfer_post(
        from_account=wallet.system_account(name=SystemAccount.PROMOTIONS),
        to_account=wallet.user_account(user_id=user.pk),
        amount=100,
        kind=TransferKind.BONUS,
        idempotency_key="welcome-2",
        credit_source="welcome",
    )
    assert _balance(api, token)[1]["expiring_soon"] == 1.0
