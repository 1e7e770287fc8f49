"""JSON API of accounts (`/api/users/*`). Token authentication shared by every app's router lives
here: `from accounts.api import token_auth`."""

import re
from datetime import datetime
from typing import Annotated, Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.http import HttpRequest, HttpResponse
from ninja import Field, Router, Schema, Status
from ninja.security import HttpBearer
from pydantic import AfterValidator, StringConstraints, WithJsonSchema, model_validator

from config.api import AUTH_ERRORS, ApiError, ErrorOut, Money, api, request_json

from . import selectors, services, throttle
from .selectors import api_session_for_token
from .validators import is_common_pin, is_pin

router = Router(tags=["accounts"])


# --- token auth -------------------------------------------------------------------------------


def _token_from_body(request: HttpRequest) -> str | None:
    if request.method in ("GET", "HEAD") or not request.body or len(request.body) > 1_000_000:
        return None
    try:
        data: Any = request_json(request)
    except (ValueError, UnicodeDecodeError):
        return None
    token = data.get("session_token") if isinstance(data, dict) else None
    return token if isinstance(token, str) else None


class TokenAuth(HttpBearer):
    """`Authorization: Bearer usr_…`, or `session_token` in the JSON body (as the seed API does).

    Never looks at the session cookie, which is why token endpoints can skip CSRF safely.
    `request.auth` becomes the `ApiSession`; `request.user` its user. With `summary=True` the
    same single statement also reads the member's `AccountSummary` into
    `request.account_summary` (for `/users/balance`).
    """

    def __init__(self, *, summary: bool = False) -> None:
        super().__init__()
        self.summary = summary

    def __call__(self, request: HttpRequest) -> Any:
        header = request.META.get("HTTP_AUTHORIZATION", "")  # request.headers would copy every header
        if header[:7].lower() == "bearer ":
            return self.authenticate(request, header[7:].strip())
        token = _token_from_body(request)
        return self.authenticate(request, token) if token else None

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        if self.summary:
            found = selectors.api_session_with_summary(token)
            if found is None:
                return None
            session, request.account_summary = found  # type: ignore[attr-defined]
        else:
            session = api_session_for_token(token)
            if session is None:
                return None
        services.api_session_touch(session=session)
        request.user = session.user
        return session


token_auth = TokenAuth()
# For endpoints that answer with the balance summary: token check and summary in one query.
token_auth_with_summary = TokenAuth(summary=True)


# --- schemas ----------------------------------------------------------------------------------


def _pin(value: str) -> str:
    # The pattern already says so; fullmatch also refuses a trailing newline ("1234\n").
    if not is_pin(value):
        raise ValueError("the PIN must be a string of 4 to 6 digits (0-9)")
    return value


def _email(value: str) -> str:
    value = value.strip()
    try:
        validate_email(value)
    except DjangoValidationError:
        raise ValueError("not a valid email address") from None
    return value.lower()


Pin = Annotated[str, StringConstraints(strict=True, pattern=r"^[0-9]{4,6}$"), AfterValidator(_pin)]
Email = Annotated[
    str,
    StringConstraints(strict=True, min_length=3, max_length=254),
    AfterValidator(_email),
    WithJsonSchema({"type": "string", "format": "email", "maxLength": 254, "examples": ["member@example.com"]}),
]
SessionToken = Annotated[str | None, Field(None, max_length=200, description="Or send `Authorization: Bearer …`.")]


class JsonObjectIn(Schema):
    """A request body that must be a JSON object (ninja's Schema would read a list or `null`
    as an object with every field at its default)."""

    @model_validator(mode="before")
    @classmethod
    def _must_be_an_object(cls, data: Any) -> Any:
        if not isinstance(getattr(data, "_obj", data), dict):  # ninja hands over a DjangoGetter
            raise ValueError("the request body must be a JSON object")
        return data


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


# --- helpers ----------------------------------------------------------------------------------

INVALID_CREDENTIALS = (401, "invalid_credentials", "That email and PIN do not match an account.")


def _throttled(request: HttpRequest, refusal: throttle.Refusal | services.PinThrottled, message: str) -> HttpResponse:
    body = {"error": "too_many_attempts", "message": message, "retry_after": refusal.retry_after}
    response = api.create_response(request, body, status=429)
    response["Retry-After"] = str(refusal.retry_after)
    return response


def _user_agent(request: HttpRequest) -> str:
    return re.sub(r"[\x00-\x1f\x7f]", "", request.headers.get("User-Agent", ""))[:255]


# --- endpoints --------------------------------------------------------------------------------


@router.post(
    "/users/register",
    response={201: RegisterOut, 400: ErrorOut, 409: ErrorOut, 429: ErrorOut},
    summary="Create an account with an email and a PIN",
)
def register(request: HttpRequest, payload: CredentialsIn) -> Any:
    if is_common_pin(payload.pin):
        raise ApiError(400, "pin_too_common", "That PIN is one of the most common ones. Choose another.")
    refusal = throttle.registration(request)
    if refusal is not None:
        return _throttled(request, refusal, "Too many registrations from your network. Try again later.")
    try:
        user = services.user_register(email=payload.email, pin=payload.pin, ip=services.client_ip(request))
    except services.EmailTaken:
        raise ApiError(409, "email_taken", "An account with this email already exists. Sign in instead.") from None
    except DjangoValidationError as exc:
        raise ApiError(400, "invalid_pin", " ".join(exc.messages)) from None
    summary = selectors.account_summary(user_id=user.pk, email=user.email)
    return Status(
        201,
        {
            "success": True,
            "user_id": user.pk,
            "email": user.email,
            "credit_balance": summary.balance,
            "message": "Account created successfully",
        },
    )


@router.post(
    "/users/login",
    response={200: LoginOut, 400: ErrorOut, 401: ErrorOut, 423: ErrorOut, 429: ErrorOut},
    summary="Sign in: returns a session token",
)
def login(request: HttpRequest, payload: CredentialsIn) -> Any:
    try:
        user = services.pin_check(request=request, email=payload.email, pin=payload.pin)
    except services.InvalidCredentials:
        raise ApiError(*INVALID_CREDENTIALS) from None
    except services.PinThrottled as exc:
        return _throttled(request, exc, str(exc))
    except services.AccountLocked as exc:
        raise ApiError(423, "account_locked", str(exc)) from None
    _, token = services.api_session_create(user=user, ip=services.client_ip(request), user_agent=_user_agent(request))
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
    services.api_session_revoke(session_id=request.auth.pk)  # type: ignore[attr-defined]
    return {"success": True, "message": "Signed out."}


@router.post(
    "/users/balance", response={200: BalanceOut, **AUTH_ERRORS}, auth=token_auth_with_summary, summary="Credit balance"
)
def balance(request: HttpRequest, payload: TokenIn) -> Any:
    summary: selectors.AccountSummary = request.account_summary  # type: ignore[attr-defined]
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
    user = request.auth.user  # type: ignore[attr-defined]
    try:
        page = selectors.history_page(
            user_id=user.pk, limit=payload.limit, offset=payload.offset, cursor=payload.cursor
        )
    except selectors.InvalidCursor:
        raise ApiError(400, "invalid_cursor", "cursor: not a cursor this API gave out.") from None
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
