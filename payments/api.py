"""JSON API of payments: packages, CoinPayments checkout, payment status, E9th deposits and
wallet linking. Handlers validate the shape and call one service; its PaymentErrors become the
JSON error body and status in core.api, like every GoldbookError."""

from datetime import datetime
from decimal import Decimal

from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Router, Schema
from ninja.responses import Status
from pydantic import Field

from accounts.api import token_auth
from accounts.requests import signed_in_member
from core.api import AUTH_ERRORS, ErrorOut, Money
from core.idempotency import IdempotencyKeyHeader, clean_key
from core.requests import signed_in_id
from wallet.selectors import balance_for_user, default_currency

from . import selectors, services
from .errors import PaymentNotFound, UnsupportedPaymentMethod
from .models import Payment
from .services import ChainOutcome, ChainStatus

router = Router(tags=["payments"])


# --- packages ---------------------------------------------------------------------------------


class PackageOut(Schema):
    id: int
    name: str
    usd_amount: Money
    base_credits: Money
    bonus_credits: Money
    total_credits: Money
    estimated_songs: int


class PackagesOut(Schema):
    packages: list[PackageOut]


@router.get("/credits/packages", response={200: PackagesOut, 400: ErrorOut})
def packages(request: HttpRequest) -> dict[str, object]:
    return {
        "packages": [
            {
                "id": row.package.pk,
                "name": row.package.name,
                "usd_amount": row.usd_amount,
                "base_credits": row.base_credits,
                "bonus_credits": row.bonus_credits,
                "total_credits": row.total_credits,
                "estimated_songs": row.estimated_songs,
            }
            for row in selectors.package_rows()
        ]
    }


# --- CoinPayments checkout --------------------------------------------------------------------


class CheckoutIn(Schema):
    session_token: str | None = None
    package_id: int | None = None
    custom_amount_usd: Decimal | None = Field(default=None, max_digits=12, decimal_places=2)
    currency: str = Field(min_length=1, max_length=32)


class CheckoutOut(Schema):
    payment_id: int
    status: str
    address: str
    amount: str
    currency: str
    confirms_needed: int
    expires_at: datetime | None
    checkout_url: str
    status_url: str
    qrcode_url: str


def _checkout_out(p: Payment) -> dict[str, object]:
    return {
        "payment_id": p.pk,
        "status": p.status,
        "address": p.address,
        "amount": p.coin_amount,
        "currency": p.coin,
        "confirms_needed": p.confirms_needed,
        "expires_at": p.expires_at,
        "checkout_url": p.checkout_url,
        "status_url": p.status_url,
        "qrcode_url": p.qrcode_url,
    }


@router.post(
    "/credits/checkout",
    auth=token_auth,
    response={201: CheckoutOut, **AUTH_ERRORS, **{code: ErrorOut for code in (403, 404, 409, 502, 503)}},
    description="502: CoinPayments refused or did not answer (nothing was made; retry). "
    "503 not_configured: this site takes no CoinPayments payments.",
)
def checkout(
    request: HttpRequest, payload: CheckoutIn, idempotency_key: IdempotencyKeyHeader = None
) -> Status[dict[str, object]]:
    key = clean_key(idempotency_key)
    quote = services.quote(package_id=payload.package_id, custom_amount_usd=payload.custom_amount_usd)
    payment = services.coinpayments_checkout(
        user=signed_in_member(request), quote=quote, coin=payload.currency.strip(), idempotency_key=key
    )
    return Status(201, _checkout_out(payment))


class PaymentOut(Schema):
    payment_id: int
    status: str
    status_detail: str
    payment_method: str
    package_name: str
    usd_amount: Money
    base_credits: Money
    bonus_credits: Money
    total_credits: Money
    currency: str
    amount: str
    received_amount: str
    address: str
    confirmations: int
    confirms_needed: int
    reference: str | None
    expires_at: datetime | None
    created_at: datetime
    completed_at: datetime | None


def payment_out(p: Payment) -> dict[str, object]:
    currency = default_currency()
    return {
        "payment_id": p.pk,
        "status": p.status,
        "status_detail": p.status_detail,
        "payment_method": p.provider,
        "package_name": p.package_name,
        "usd_amount": p.usd_amount,
        "base_credits": currency.to_decimal(p.base_credits),
        "bonus_credits": currency.to_decimal(p.bonus_credits),
        "total_credits": currency.to_decimal(p.total_credits),
        "currency": p.coin,
        "amount": p.coin_amount,
        "received_amount": p.received_amount,
        "address": p.address,
        "confirmations": p.confirmations,
        "confirms_needed": p.confirms_needed,
        "reference": p.reference,
        "expires_at": p.expires_at,
        "created_at": p.created_at,
        "completed_at": p.completed_at,
    }


@router.get("/payments/{payment_id}", auth=token_auth, response={200: PaymentOut, **AUTH_ERRORS, 404: ErrorOut})
def payment_status(request: HttpRequest, payment_id: int) -> dict[str, object]:
    payment = selectors.payment_for_owner(payment_id=payment_id, user_id=signed_in_id(request))
    if payment is None:
        # Someone else's payment answers exactly like a missing one.
        raise PaymentNotFound(_("You have no payment #%(id)s.") % {"id": payment_id})
    return payment_out(payment)


# --- E9th deposits ------------------------------------------------------------------------------


class PurchaseIn(Schema):
    session_token: str | None = None
    package_id: int
    payment_method: str = "e9th_stablecoin"
    tx_hash: str = Field(max_length=200)
    wallet_address: str = Field(max_length=200)


class PurchaseOut(Schema):
    success: bool
    package_name: str
    usd_amount: Money
    base_credits: Money
    bonus_credits: Money
    total_credits_added: Money
    new_balance: Money
    transaction_id: int
    already_credited: bool | None = None


class PendingOut(Schema):
    success: bool
    status: str
    confirmations: int
    required_confirmations: int
    transaction_id: int
    message: str


@router.post(
    "/credits/purchase",
    auth=token_auth,
    response={
        200: PurchaseOut,
        202: PendingOut,
        **AUTH_ERRORS,
        **{code: ErrorOut for code in (403, 404, 409, 422, 503)},
    },
    exclude_none=True,
)
def purchase(
    request: HttpRequest, payload: PurchaseIn, idempotency_key: IdempotencyKeyHeader = None
) -> Status[dict[str, object]]:
    key = clean_key(idempotency_key)
    if payload.payment_method != "e9th_stablecoin":
        raise UnsupportedPaymentMethod('payment_method must be "e9th_stablecoin".')
    user = signed_in_member(request)
    outcome = services.e9th_purchase(
        user=user,
        package_id=payload.package_id,
        tx_hash=payload.tx_hash,
        wallet_address=payload.wallet_address,
        idempotency_key=key,
    )
    if outcome.status is ChainStatus.PENDING:
        return Status(202, _pending_out(outcome))
    return Status(200, _purchase_out(outcome, user_id=user.pk))


def _pending_out(outcome: ChainOutcome) -> dict[str, object]:
    return {
        "success": True,
        "status": "pending",
        "confirmations": outcome.confirmations,
        "required_confirmations": outcome.required,
        "transaction_id": outcome.payment.pk,
        "message": outcome.message,
    }


def _purchase_out(outcome: ChainOutcome, *, user_id: int) -> dict[str, object]:
    # The balance the crediting transaction read; only a repeat of a claim credited earlier
    # (nothing committed now) reads it afresh.
    balance = outcome.balance or balance_for_user(user_id=user_id)
    p, currency = outcome.payment, balance.currency
    body: dict[str, object] = {
        "success": True,
        "package_name": p.package_name,
        "usd_amount": p.usd_amount,
        "base_credits": currency.to_decimal(p.base_credits),
        "bonus_credits": currency.to_decimal(p.bonus_credits),
        "total_credits_added": currency.to_decimal(p.total_credits),
        "new_balance": balance.balance_decimal,
        "transaction_id": p.pk,
    }
    if outcome.status is ChainStatus.ALREADY_CREDITED:
        body["already_credited"] = True
    return body


# --- wallet linking -------------------------------------------------------------------------------


class ChallengeOut(Schema):
    message: str
    nonce: str
    expires_at: datetime


@router.post("/users/wallet/challenge", auth=token_auth, response={200: ChallengeOut, **AUTH_ERRORS})
def wallet_challenge(request: HttpRequest) -> dict[str, object]:
    challenge = services.wallet_challenge_create(user=signed_in_member(request))
    return {"message": challenge.message, "nonce": challenge.nonce, "expires_at": challenge.expires_at}


class LinkIn(Schema):
    session_token: str | None = None
    wallet_address: str = Field(max_length=200)
    signature: str = Field(max_length=200)


class LinkOut(Schema):
    success: bool
    wallet_address: str
    linked_at: datetime


@router.post("/users/wallet/link", auth=token_auth, response={200: LinkOut, **AUTH_ERRORS, 409: ErrorOut})
def wallet_link(request: HttpRequest, payload: LinkIn) -> dict[str, object]:
    linked = services.wallet_link(
        user=signed_in_member(request), wallet_address=payload.wallet_address, signature=payload.signature
    )
    return {"success": True, "wallet_address": linked.address, "linked_at": linked.linked_at}
