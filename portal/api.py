"""`/api/users/*`: the seed's account endpoints. They answer with balances, ledger totals and songs
downloaded, which several apps own, so they live on the top floor; identity itself (PIN checks,
sessions, token auth) is accounts'."""

from datetime import datetime
from typing import Annotated, Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Field, Router, Schema, Status

from accounts import services, throttle
from accounts.api import (
    Email,
    JsonObjectIn,
    Pin,
    SessionToken,
    TokenAuth,
    api_session,
    throttled_response,
    token_auth,
    user_agent,
)
from accounts.models import ApiSession
from accounts.validators import is_common_pin
from core.api import AUTH_ERRORS, ErrorOut, Money, api
from core.errors import GoldbookError, join_sentences

from . import selectors

router = Router(tags=["accounts"])


class SummaryTokenAuth(TokenAuth):
    """Token check and the member's balance summary in one statement (`/users/balance`); the
    summary lands on `request.account_summary`."""

    def lookup(self, request: HttpRequest, token: str) -> ApiSession | None:
        found = selectors.api_session_with_summary(token)
        if found is None:
            return None
        session, request.account_summary = found  # type: ignore[attr-defined]  # read by balance()
        return session


token_auth_with_summary = SummaryTokenAuth()


class CredentialsIn(JsonObjectIn):
    email: Email
    pin: Pin = Field(..., description="4 to 6 ASCII digits, as a JSON string.", examples=["4829"])


class TokenIn(JsonObjectIn):
    session_token: SessionToken = None


class TransactionsIn(JsonObjectIn):
    session_token: SessionToken = None
    limit: Annotated[int, Field(strict=True, ge=1, le=100)] = 20
    offset: Annotated[int, Field(strict=True, ge=0, le=1_000_000_000)] = 0
    cursor: Annotated[str | None, Field(max_length=64, description="`next_cursor` of the previous page.")] = None


class RegisterOut(Schema):
    success: bool
    user_id: int
    email: str
    credit_balance: Money
    message: str


class LoginUserOut(Schema):
    email: str
    credit_balance: Money
    songs_available: int
    total_songs_downloaded: int


class LoginOut(Schema):
    success: bool
    session_token: str
    user: LoginUserOut


class LogoutOut(Schema):
    success: bool
    message: str


class BalanceOut(Schema):
    email: str
    credit_balance: Money = Field(..., description="Balance, including any amount held for pending operations.")
    available_balance: Money = Field(..., description="Spendable now: balance minus held.")
    held_balance: Money
    songs_available: int = Field(..., description="Spendable balance ÷ song price, rounded down.")
    total_credits_purchased: Money = Field(..., description="Purchases plus their bonus credits, net of refunds.")
    total_credits_spent: Money = Field(
        ..., description="Downloads, redemptions, captured holds, bounties and escrow, net of refunds."
    )
    total_songs_downloaded: int
    paid_balance: Money = Field(..., description="Credits bought and not yet spent: refundable, never expire.")
    promotional_balance: Money = Field(..., description="Bonus, earned and granted credits (balance minus paid).")
    expiring_soon: Money = Field(
        ..., description="Promotional credits that expire within the notice period (7 days by default)."
    )


class TransactionOut(Schema):
    id: int
    type: str = Field(..., description="The transfer kind; downloads are shown as `deduction`.")
    amount: Money = Field(..., description="Signed: negative when credits left the account.")
    balance_after: Money
    created_at: datetime
    package_name: str | None = None
    notes: str | None = None
    songs_downloaded: int | None = None


class TransactionsOut(Schema):
    transactions: list[TransactionOut]
    total_count: int
    next_cursor: str | None


# --- endpoints --------------------------------------------------------------------------------


@router.post(
    "/users/register",
    response={201: RegisterOut, 400: ErrorOut, 409: ErrorOut, 429: ErrorOut, 503: ErrorOut},
    summary="Create an account with an email and a PIN",
)
def register(request: HttpRequest, payload: CredentialsIn) -> Any:
    if is_common_pin(payload.pin):
        raise GoldbookError(
            _("That PIN is one of the most common ones. Choose another."), status=400, code="pin_too_common"
        )
    refusal = throttle.registration(request)
    if refusal is not None:
        return throttled_response(request, refusal, _("Too many registrations from your network. Try again later."))
    try:
        user = services.user_register(email=payload.email, pin=payload.pin, ip=services.client_ip(request))
    except services.EmailTaken:
        raise GoldbookError(
            _("An account with this email already exists. Sign in instead."), status=409, code="email_taken"
        ) from None
    except DjangoValidationError as exc:
        raise GoldbookError(" ".join(exc.messages), status=400, code="invalid_pin") from None
    summary = selectors.account_summary(user_id=user.pk, email=user.email)
    return Status(
        201,
        {
            "success": True,
            "user_id": user.pk,
            "email": user.email,
            "credit_balance": summary.balance,
            "message": _("Account created successfully"),
        },
    )


@router.post(
    "/users/login",
    response={200: LoginOut, 400: ErrorOut, 401: ErrorOut, 423: ErrorOut, 429: ErrorOut, 503: ErrorOut},
    summary="Sign in: returns a session token",
)
def login(request: HttpRequest, payload: CredentialsIn) -> Any:
    try:
        user = services.pin_check(request=request, email=payload.email, pin=payload.pin)
    except services.InvalidCredentials:
        tries = throttle.tries_left_text(request, payload.email)
        message = join_sentences(_("That email and PIN do not match an account."), tries)
        raise GoldbookError(message, status=401, code="invalid_credentials") from None
    except services.PinThrottled as exc:
        return throttled_response(request, exc, str(exc))
    except services.AccountLocked as exc:
        raise GoldbookError(str(exc), status=423, code="account_locked") from None
    ip = services.client_ip(request)
    _session, token = services.api_session_create(user=user, ip=ip, user_agent=user_agent(request))
    summary = selectors.account_summary(user_id=user.pk, email=user.email)
    return {
        "success": True,
        "session_token": token,
        "user": {
            "email": user.email,
            "credit_balance": summary.balance,
            "songs_available": summary.songs_available,
            "total_songs_downloaded": summary.total_songs_downloaded,
        },
    }


@router.post("/users/logout", response={200: LogoutOut, **AUTH_ERRORS}, auth=token_auth, summary="Revoke the token")
def logout(request: HttpRequest, payload: TokenIn) -> Any:
    services.api_session_revoke(session_id=api_session(request).pk)
    return {"success": True, "message": _("Signed out.")}


@router.post(
    "/users/balance", response={200: BalanceOut, **AUTH_ERRORS}, auth=token_auth_with_summary, summary="Credit balance"
)
def balance(request: HttpRequest, payload: TokenIn) -> Any:
    summary: selectors.AccountSummary = request.account_summary  # type: ignore[attr-defined]  # set by SummaryTokenAuth
    # Rendered here rather than validated again through BalanceOut: every value is already typed
    # (Decimal, int, str) and the keys are BalanceOut's, in its order (a test holds both to the
    # schema). Re-validating the response cost a tenth of this hot endpoint's time.
    return api.create_response(
        request,
        {
            "email": summary.email,
            "credit_balance": summary.balance,
            "available_balance": summary.available,
            "held_balance": summary.held,
            "songs_available": summary.songs_available,
            "total_credits_purchased": summary.total_credits_purchased,
            "total_credits_spent": summary.total_credits_spent,
            "total_songs_downloaded": summary.total_songs_downloaded,
            "paid_balance": summary.paid,
            "promotional_balance": summary.promotional,
            "expiring_soon": summary.expiring_soon,
        },
        status=200,
    )


@router.post(
    "/users/transactions",
    response={200: TransactionsOut, **AUTH_ERRORS},
    auth=token_auth,
    summary="Transaction history, newest first",
    # package_name / notes / songs_downloaded appear only on the rows they apply to.
    exclude_unset=True,
)
def transactions(request: HttpRequest, payload: TransactionsIn) -> Any:
    user = api_session(request).user
    try:
        page = selectors.history_page(
            user_id=user.pk, limit=payload.limit, offset=payload.offset, cursor=payload.cursor
        )
    except selectors.InvalidCursor:
        raise GoldbookError(_("cursor: not a cursor this API gave out."), status=400, code="invalid_cursor") from None
    rows = []
    for row in page.rows:
        item: dict[str, Any] = {
            "id": row.id,
            "type": row.type,
            "amount": row.amount,
            "balance_after": row.balance_after,
            "created_at": row.created_at,
        }
        item.update({k: row.extra[k] for k in selectors.EXTRA_FIELDS if row.extra.get(k) is not None})
        rows.append(item)
    return {"transactions": rows, "total_count": page.total_count, "next_cursor": page.next_cursor}
