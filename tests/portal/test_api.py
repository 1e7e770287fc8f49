from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts import services as accounts_services
from accounts.models import ApiSession, User
from core import registry
from tests.factories import DEFAULT_PIN, UserFactory, api_token, fund
from wallet import services as wallet
from wallet.models import SystemAccount, TransferKind
from wallet.selectors import default_currency

pytestmark = pytest.mark.django_db


# --- registration -----------------------------------------------------------------------------


def test_register_creates_the_account(api):
    response = api("/users/register", {"email": "New@Example.com", "pin": "4829"})
    assert response.status_code == 201
    body = response.json()
    user = User.objects.get(pk=body["user_id"])
    assert body == {
        "success": True,
        "user_id": user.pk,
        "email": "new@example.com",
        "credit_balance": 0.0,
        "message": "Account created successfully",
    }
    assert b'"credit_balance": 0.00' in response.content  # a JSON number with the currency's places
    assert user.check_password("4829")
    assert user.known_addresses.filter(ip="127.0.0.1").exists()


def test_register_existing_email_is_409(api):
    UserFactory(email="taken@example.com")
    response = api("/users/register", {"email": "TAKEN@example.com", "pin": "4829"})
    assert response.status_code == 409
    assert response.json()["error"] == "email_taken"


@pytest.mark.parametrize(
    "body",
    [
        {"email": "a@example.com", "pin": 4829},
        {"email": "a@example.com", "pin": "482"},
        {"email": "a@example.com", "pin": "4829\n"},
        {"email": "a@example.com", "pin": "48 29"},
        {"email": "a@example.com", "pin": "١٢٣٤"},
        {"email": "a@example.com", "pin": "1234567"},
        {"email": "not-an-email", "pin": "4829"},
        {"email": "a@example.com"},
        {"pin": "4829"},
        {"email": ["a@example.com"], "pin": "4829"},
        [],
        "x",
    ],
)
def test_register_refuses_malformed_input_with_400(api, body):
    response = api("/users/register", body)
    assert response.status_code == 400
    assert set(response.json()) >= {"error", "message"}
    assert not User.objects.exists()


def test_register_malformed_json_is_400(api):
    response = api("/users/register", raw='{"email": "a@example.com", "pin": ')
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


def test_register_refuses_common_pins(api):
    response = api("/users/register", {"email": "a@example.com", "pin": "1234"})
    assert response.status_code == 400
    assert "most common" in response.json()["message"]


def test_registration_is_rate_limited_per_ip(api, settings):
    settings.ACCOUNT_RATE_LIMITS = {**settings.ACCOUNT_RATE_LIMITS, "signup": "3/h/ip"}
    for n in range(3):
        assert api("/users/register", {"email": f"r{n}@example.com", "pin": "4829"}, ip="10.1.1.1").status_code == 201
    response = api("/users/register", {"email": "r9@example.com", "pin": "4829"}, ip="10.1.1.1")
    assert response.status_code == 429
    assert int(response["Retry-After"]) > 0
    assert api("/users/register", {"email": "r9@example.com", "pin": "4829"}, ip="10.1.1.2").status_code == 201


# --- login ------------------------------------------------------------------------------------


def test_login_returns_a_token_and_the_seed_shape(api):
    user = UserFactory(email="m@example.com")
    fund(user, "45.50")
    response = api("/users/login", {"email": "M@example.com", "pin": DEFAULT_PIN})
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    token = body["session_token"]
    assert token.startswith("usr_") and len(token) >= 4 + 32
    assert body["user"] == {
        "email": "m@example.com",
        "credit_balance": 45.5,
        "songs_available": 130,
        "total_songs_downloaded": 0,
    }
    session = ApiSession.objects.get(user=user)
    assert session.ip == "127.0.0.1"
    assert session.expires_at - session.created_at > timedelta(days=29)


def test_wrong_pin_and_unknown_email_get_the_same_401(api):
    UserFactory(email="m@example.com")
    wrong = api("/users/login", {"email": "m@example.com", "pin": "9999"})
    unknown = api("/users/login", {"email": "nobody@example.com", "pin": "9999"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.content == unknown.content


# --- balance and history ----------------------------------------------------------------------


def _spend(user, amount: str, kind: str, key: str):
    currency = default_currency()
    return wallet.transfer_post(
        from_account=wallet.user_account(user_id=user.pk),
        to_account=wallet.system_account(name=SystemAccount.REVENUE),
        amount=currency.to_minor(Decimal(amount)),
        kind=kind,
        idempotency_key=key,
    )


def test_balance_totals_come_from_the_ledger(api, settings):
    user = UserFactory()
    fund(user, "50.00", key="buy")
    fund(user, "25.00", key="bonus", kind=TransferKind.BONUS)
    _spend(user, "10.50", TransferKind.DOWNLOAD, "dl-1")
    _spend(user, "19.00", TransferKind.REDEEM, "store-1")
    wrong = _spend(user, "1.00", TransferKind.DOWNLOAD, "dl-2")
    wallet.transfer_reverse(transfer=wrong)  # a refunded download is not spent
    account = wallet.user_account(user_id=user.pk)
    wallet.hold_place(
        account=account,
        amount=500,
        kind=TransferKind.DOWNLOAD,
        idempotency_key="hold-1",
        expires_at=timezone.now() + timedelta(hours=1),
    )
    fund(user, "1.00", key="earned", kind=TransferKind.EARN)  # earned, not purchased

    response = api("/users/balance", {"session_token": api_token(user)})
    assert response.status_code == 200
    body = response.json()
    assert body == {
        "email": user.email,
        "credit_balance": 46.5,
        "available_balance": 41.5,
        "held_balance": 5.0,
        "songs_available": 118,  # 41.50 / 0.35 = 118.57 -> 118: the held 5.00 is not spendable
        "total_credits_purchased": 75.0,
        "total_credits_spent": 29.5,
        "total_songs_downloaded": 0,
        # issue 13's split: the spends drew the promotional credits first
        "paid_balance": 45.5,
        "promotional_balance": 1.0,
        "expiring_soon": 0.0,
    }
    settings.GOLDBOOK_SONG_PRICE = Decimal("0.50")
    assert api("/users/balance", token=api_token(user)).json()["songs_available"] == 83


def test_balance_writes_money_as_json_numbers(api):
    user = UserFactory()
    fund(user, "45.50")
    response = api("/users/balance", token=api_token(user))
    assert b'"credit_balance": 45.50' in response.content


def test_total_songs_downloaded_counts_real_downloads(api, settings, tmp_path):
    from tests.factories import make_songs

    settings.MEDIA_ROOT = tmp_path / "media"
    user = UserFactory()
    fund(user, "5.00")
    token = api_token(user)
    song, _ = make_songs(2)
    assert api(f"/items/{song.pk}/download", {}, token=token).status_code == 200
    body = api("/users/balance", token=token).json()
    assert body["total_songs_downloaded"] == 1
    assert body["credit_balance"] == 4.65


def test_history_is_accurate_newest_first_with_signed_amounts(api):
    user = UserFactory()
    fund(user, "50.00", key="buy")
    fund(user, "25.00", key="bonus", kind=TransferKind.BONUS)
    _spend(user, "10.50", TransferKind.DOWNLOAD, "dl-1")
    body = api("/users/transactions", {"session_token": api_token(user)}).json()
    assert body["total_count"] == 3
    assert body["next_cursor"] is None
    rows = body["transactions"]
    assert [(r["type"], r["amount"], r["balance_after"]) for r in rows] == [
        ("deduction", -10.5, 64.5),
        ("bonus", 25.0, 75.0),
        ("purchase", 50.0, 50.0),
    ]
    assert rows[0]["id"] > rows[1]["id"] > rows[2]["id"]
    assert rows[0]["created_at"].endswith("Z")


def test_history_pages_by_offset_and_by_cursor(api):
    user = UserFactory()
    for n in range(5):
        fund(user, "1.00", key=f"f{n}")
    token = api_token(user)
    everything = [r["id"] for r in api("/users/transactions", {"limit": 100}, token=token).json()["transactions"]]
    first = api("/users/transactions", {"limit": 2}, token=token).json()
    assert [r["id"] for r in first["transactions"]] == everything[:2]
    assert first["total_count"] == 5
    second = api("/users/transactions", {"limit": 2, "cursor": first["next_cursor"]}, token=token).json()
    assert [r["id"] for r in second["transactions"]] == everything[2:4]
    by_offset = api("/users/transactions", {"limit": 2, "offset": 2}, token=token).json()
    assert [r["id"] for r in by_offset["transactions"]] == everything[2:4]
    assert by_offset["next_cursor"] == second["next_cursor"]
    last = api("/users/transactions", {"limit": 2, "cursor": second["next_cursor"]}, token=token).json()
    assert [r["id"] for r in last["transactions"]] == everything[4:]
    assert last["next_cursor"] is None
    beyond = api("/users/transactions", {"offset": 50}, token=token).json()
    assert beyond == {"transactions": [], "total_count": 5, "next_cursor": None}


@pytest.mark.parametrize("limit", [0, 101, -1, "20", 2.5, True, None])
def test_history_limit_outside_1_to_100_is_400(api, limit):
    user = UserFactory()
    response = api("/users/transactions", {"limit": limit}, token=api_token(user))
    assert response.status_code == 400


@pytest.mark.parametrize("cursor", ["garbage", "ZcKy", "é", "=" * 10])
def test_history_refuses_foreign_cursors_with_400(api, cursor):
    user = UserFactory()
    response = api("/users/transactions", {"cursor": cursor}, token=api_token(user))
    assert response.status_code == 400


def test_history_rows_carry_their_causes_fields_without_n_plus_1(api, monkeypatch, django_assert_max_num_queries):
    """The history details a cause's app registers add fields to its rows; causes are prefetched."""

    def history_fields(cause, transfer):
        if transfer.kind == TransferKind.PURCHASE:
            return {"package_name": f"Pack for {cause.email}"}
        if transfer.kind == TransferKind.BONUS:
            return {"notes": "Bonus credits for package purchase"}
        return {"songs_downloaded": 30}

    monkeypatch.setitem(registry._history, User, history_fields)
    user = UserFactory()
    currency = default_currency()
    for n in range(10):
        for kind in (TransferKind.PURCHASE, TransferKind.BONUS):
            wallet.transfer_post(
                from_account=wallet.system_account(name=SystemAccount.ISSUANCE),
                to_account=wallet.user_account(user_id=user.pk),
                amount=currency.to_minor(Decimal("1.00")),
                kind=kind,
                idempotency_key=f"{kind}-{n}",
                cause=user,
            )
    wallet.transfer_post(
        from_account=wallet.user_account(user_id=user.pk),
        to_account=wallet.system_account(name=SystemAccount.REVENUE),
        amount=1050,
        kind=TransferKind.DOWNLOAD,
        idempotency_key="dl",
        cause=user,
    )
    token = api_token(user)
    with django_assert_max_num_queries(8):
        rows = api("/users/transactions", {"limit": 21}, token=token).json()["transactions"]
    assert rows[0]["songs_downloaded"] == 30 and rows[0]["type"] == "deduction"
    assert rows[1]["notes"] == "Bonus credits for package purchase"
    assert rows[2]["package_name"] == f"Pack for {user.email}"
    assert "notes" not in rows[2] and "package_name" not in rows[1]


# --- tokens -----------------------------------------------------------------------------------


def test_token_works_in_the_body_and_as_bearer(api):
    user = UserFactory()
    token = api_token(user)
    assert api("/users/balance", {"session_token": token}).status_code == 200
    assert api("/users/balance", token=token).status_code == 200


@pytest.mark.parametrize("case", ["missing", "unknown", "expired", "revoked", "not_a_string", "inactive_user"])
def test_bad_tokens_get_401(api, case):
    user = UserFactory()
    token = api_token(user)
    session = ApiSession.objects.get(user=user)
    body = {"session_token": token}
    if case == "missing":
        body = {}
    elif case == "unknown":
        body = {"session_token": "usr_" + "x" * 43}
    elif case == "expired":
        ApiSession.objects.filter(pk=session.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    elif case == "revoked":
        assert api("/users/logout", body).status_code == 200
    elif case == "not_a_string":
        body = {"session_token": 12345}
    elif case == "inactive_user":
        User.objects.filter(pk=user.pk).update(is_active=False)
    for path in ("/users/balance", "/users/transactions", "/users/logout"):
        response = api(path, body)
        assert response.status_code == 401, path
        assert response.json()["error"] == "unauthorized"


def test_token_endpoints_ignore_the_session_cookie(api, client):
    user = UserFactory()
    client.force_login(user)
    assert api("/users/balance", {}).status_code == 401


def test_token_use_slides_the_expiry(api):
    user = UserFactory()
    token = api_token(user)
    past = timezone.now() - timedelta(days=10)
    ApiSession.objects.filter(user=user).update(last_used_at=past, expires_at=past + timedelta(days=30))
    api("/users/balance", token=token)
    session = ApiSession.objects.get(user=user)
    assert session.expires_at > timezone.now() + timedelta(days=29)


def test_huge_and_deeply_nested_bodies_are_not_500(api):
    user = UserFactory()
    token = api_token(user)
    deep = "[" * 100_000 + "]" * 100_000
    assert api("/users/balance", raw=deep).status_code == 401
    assert api("/users/transactions", raw=deep, token=token).status_code == 400
    assert api("/users/login", raw='{"email": "' + "a" * 2_000_000 + '", "pin": "4829"}').status_code == 400


def test_history_prefetches_what_the_causes_details_read(api, monkeypatch, django_assert_max_num_queries):
    """A history detail that reads a relation of its cause (as `Award.rule`, `Redemption.reward`
    do) costs one query per page when registered with `related`, not one per row."""
    monkeypatch.setitem(registry._history, ApiSession, lambda cause, transfer: {"notes": cause.user.email})
    monkeypatch.setitem(registry._history_related, ApiSession, ("user",))
    user = UserFactory()
    for n in range(12):
        session, _token = accounts_services.api_session_create(user=user, ip=None, user_agent="t")
        wallet.transfer_post(
            from_account=wallet.system_account(name=SystemAccount.ISSUANCE),
            to_account=wallet.user_account(user_id=user.pk),
            amount=100,
            kind=TransferKind.BONUS,
            idempotency_key=f"related-{n}",
            cause=ApiSession.objects.get(pk=session.pk),  # its user not loaded yet
        )
    token = api_token(user)
    with django_assert_max_num_queries(8):
        rows = api("/users/transactions", {"limit": 12}, token=token).json()["transactions"]
    assert [row["notes"] for row in rows] == [user.email] * 12
