"""JSON API of rewards: signed activity intake, the store, redeeming, leaderboards, bounties."""

import hashlib
import hmac
import json
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Literal

import pydantic
from django.conf import settings
from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status
from ninja.errors import AuthenticationError

from accounts.api import token_auth
from core.api import ApiError, ErrorOut, Money
from wallet.errors import IdempotencyConflict, InsufficientFunds
from wallet.selectors import balance_for_user, default_currency

from . import selectors, services
from .errors import RewardsError
from .models import Bounty, EventType, Integration

router = Router(tags=["rewards"])


def _optional_user(request: HttpRequest) -> Any:
    """The token's user when a token is given (401 when it is given but not valid)."""
    header = request.headers.get("Authorization", "")
    if not header:
        return None
    session = token_auth(request)
    if session is None:
        raise AuthenticationError()
    return session.user


# --- activity intake ------------------------------------------------------------------------


class Identity(Schema):
    email: str | None = Field(None, max_length=254)
    external_id: str | int | None = None


class ObjectRef(Schema):
    type: str = Field(..., min_length=1, max_length=32)
    id: str | int


class EventIn(Schema):
    event_id: str = Field(..., min_length=1, max_length=128)
    type: Literal[tuple(EventType.values)]  # type: ignore[valid-type]
    occurred_at: datetime | None = None
    user: Identity
    object: ObjectRef
    data: dict[str, Any] = Field(default_factory=dict)


class EventOut(Schema):
    event_id: str
    status: str
    replay: bool
    note: str


_EVENT_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": EventIn.model_json_schema()}},
        "description": (
            "The raw body is signed: X-Goldbook-Signature: sha256=<hex HMAC-SHA256 with the integration's secret>."
        ),
    },
    "parameters": [
        {"name": "X-Goldbook-Integration", "in": "header", "required": True, "schema": {"type": "string"}},
        {"name": "X-Goldbook-Signature", "in": "header", "required": True, "schema": {"type": "string"}},
    ],
}

_DUMMY_SECRET = b"rewards-unknown-integration"


def _check_signature(request: HttpRequest) -> Integration:
    name = request.headers.get("X-Goldbook-Integration", "").strip()
    signature = request.headers.get("X-Goldbook-Signature", "").strip()
    integration = Integration.objects.filter(name=name, is_active=True).first() if 0 < len(name) <= 64 else None
    # Compute a digest even for an unknown integration so timing does not tell names apart.
    secret = integration.secret.encode() if integration else _DUMMY_SECRET
    expected = hmac.new(secret, request.body, hashlib.sha256).hexdigest()
    given = signature[7:].lower() if signature[:7].lower() == "sha256=" else ""
    if integration is None or not hmac.compare_digest(expected, given):
        raise ApiError(401, "bad_signature", "Unknown integration or bad signature.")
    return integration


@router.post(
    "/rewards/events",
    response={200: EventOut, 202: EventOut, 400: ErrorOut, 401: ErrorOut},
    openapi_extra=_EVENT_BODY,
    summary="Post one forum activity event (HMAC-signed)",
)
def post_event(request: HttpRequest) -> Status[dict[str, Any]]:
    """202 when accepted (applied, or stored until its user appears), 200 for a replay of an
    event_id already received, 400 for a malformed event, 401 for a bad signature."""
    integration = _check_signature(request)
    try:
        payload = json.loads(request.body)
        event = EventIn.model_validate(payload)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "invalid_request", "The body is not valid JSON.") from None
    except pydantic.ValidationError as exc:
        err = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(p) for p in err.get("loc", ()))
        raise ApiError(400, "invalid_request", f"{where}: {err.get('msg', 'is not valid')}") from None
    user = event.user
    email = (user.email or "").strip()
    if email and ("@" not in email or len(email) < 3):
        raise ApiError(400, "invalid_request", "user.email is not an email address.")
    try:
        result = services.activity_record(
            source=integration.name,
            event_id=event.event_id,
            type=event.type,
            occurred_at=event.occurred_at,
            user_email=email,
            user_external_id=str(user.external_id) if user.external_id is not None else "",
            object_type=event.object.type,
            object_id=str(event.object.id),
            data=event.data,
        )
    except RewardsError as exc:
        raise ApiError(400, exc.code, str(exc)) from None
    stored = result.event
    body = {"event_id": stored.event_id, "status": stored.status, "replay": not result.created, "note": stored.note}
    return Status(202 if result.created else 200, body)


# --- store ----------------------------------------------------------------------------------


class RewardOut(Schema):
    id: int
    name: str
    description: str
    kind: str
    coins_required: Money
    stock: int | None
    per_user_limit: int | None
    affordable: bool


class StoreOut(Schema):
    rewards: list[RewardOut]
    balance: Money | None


@router.get("/rewards/store", response={200: StoreOut, 400: ErrorOut, 401: ErrorOut}, summary="The reward store")
def store(request: HttpRequest) -> dict[str, Any]:
    """Live rewards. With `Authorization: Bearer` the `affordable` flags are the member's."""
    user = _optional_user(request)
    items = selectors.store_items(user_id=user.pk if user else None)
    return {
        "rewards": [
            {
                "id": i.reward.pk,
                "name": i.reward.name,
                "description": i.reward.description,
                "kind": i.reward.kind,
                "coins_required": i.price_decimal,
                "stock": i.reward.stock,
                "per_user_limit": i.reward.per_user_limit,
                "affordable": i.affordable,
            }
            for i in items
        ],
        "balance": balance_for_user(user_id=user.pk).available_decimal if user else None,
    }


class RedeemIn(Schema):
    session_token: str | None = None
    reward_id: int = Field(..., ge=1, le=2**62)
    idempotency_key: str | None = Field(None, min_length=1, max_length=100)


class RedeemOut(Schema):
    redemption_id: int
    status: str
    coins_spent: Money
    new_balance: Money


class NeedCoinsOut(ErrorOut):
    coins_required: Money
    coins_available: Money
    coins_needed: Money


@router.post(
    "/rewards/redeem",
    auth=token_auth,
    response={
        200: RedeemOut,
        201: RedeemOut,
        400: ErrorOut,
        401: ErrorOut,
        402: NeedCoinsOut,
        404: ErrorOut,
        409: ErrorOut,
    },
    summary="Redeem a reward",
)
def redeem(request: HttpRequest, payload: RedeemIn) -> Status[dict[str, Any]]:
    """201 with the redemption (the same one again for a repeated idempotency_key); 402 when the
    member cannot afford it; 409 when out of stock or over the per-user limit."""
    user = request.auth.user  # type: ignore[attr-defined]
    currency = default_currency()
    try:
        result = services.reward_redeem(
            user_id=user.pk, reward_id=payload.reward_id, idempotency_key=payload.idempotency_key
        )
    except InsufficientFunds as exc:
        raise ApiError(
            402,
            "insufficient_funds",
            "You do not have enough coins for this reward.",
            coins_required=currency.to_decimal(exc.required),
            coins_available=currency.to_decimal(exc.available),
            coins_needed=currency.to_decimal(exc.needed),
        ) from None
    except IdempotencyConflict as exc:
        raise ApiError(409, "idempotency_conflict", str(exc)) from None
    except RewardsError as exc:
        raise ApiError(exc.status, exc.code, str(exc)) from None
    r = result.redemption
    return Status(
        201,
        {
            "redemption_id": r.pk,
            "status": r.status,
            "coins_spent": currency.to_decimal(r.price),
            "new_balance": balance_for_user(user_id=user.pk).available_decimal,
        },
    )


# --- leaderboard ------------------------------------------------------------------------------


class LeaderboardQuery(Schema):
    period: Literal["all", "month", "week"] = "all"
    limit: int = Field(10, ge=1, le=100)


class EntryOut(Schema):
    rank: int
    display_name: str
    coins_earned: Money
    badges: list[str]
    title: str


class MeOut(Schema):
    rank: int | None
    coins_earned: Money


class LeaderboardOut(Schema):
    period: str
    bucket: str
    entries: list[EntryOut]
    me: MeOut | None = None


@router.get("/rewards/leaderboard", response={200: LeaderboardOut, 400: ErrorOut, 401: ErrorOut}, summary="Top earners")
def leaderboard(request: HttpRequest, q: Query[LeaderboardQuery]) -> dict[str, Any]:
    """Coins earned (not bought, not balance) this period. `me` when a Bearer token is given;
    its rank is null while the member has earned nothing this period."""
    user = _optional_user(request)
    board = selectors.leaderboard(period=q.period, limit=q.limit, user_id=user.pk if user else None)
    out: dict[str, Any] = {
        "period": board.period,
        "bucket": board.bucket,
        "entries": [
            {
                "rank": e.rank,
                "display_name": e.display_name,
                "coins_earned": e.coins_decimal,
                "badges": e.badges,
                "title": e.title,
            }
            for e in board.entries
        ],
    }
    if board.me is not None:
        out["me"] = {"rank": board.me.rank, "coins_earned": board.me.coins_decimal}
    return out


# --- bounties ---------------------------------------------------------------------------------


BOUNTY_MIN = Decimal(settings.REWARDS_BOUNTY_MIN)
BOUNTY_MAX = Decimal("1000000000")


class BountyIn(Schema):
    session_token: str | None = None
    thread_ref: str = Field(..., min_length=1, max_length=200)
    title: str = Field(..., min_length=1, max_length=200)
    # Documented as a number (what clients send); pydantic alone would also document strings.
    coins: Annotated[
        Decimal,
        Field(..., ge=Decimal(settings.REWARDS_BOUNTY_MIN), le=Decimal("1000000000"), max_digits=12, decimal_places=2),
        pydantic.WithJsonSchema(
            {
                "type": "number",
                "minimum": int(Decimal(settings.REWARDS_BOUNTY_MIN)),
                "maximum": 1000000000,
                "examples": [50],
            }
        ),
    ]
    expires_in_days: int | None = Field(None, ge=1, le=settings.REWARDS_BOUNTY_MAX_DAYS)
    idempotency_key: str | None = Field(None, min_length=1, max_length=100)


class WinnerIn(Schema):
    email: str = Field(..., min_length=1, max_length=254)


class AwardIn(Schema):
    session_token: str | None = None
    winner: WinnerIn


class TokenIn(Schema):
    session_token: str | None = None


class BountyOut(Schema):
    id: int
    thread_ref: str
    title: str
    coins: Money
    status: str
    offered_by: str
    answer_count: int
    created_at: datetime
    expires_at: datetime
    grace_ends_at: datetime
    winner: str | None


class BountyListOut(Schema):
    bounties: list[BountyOut]


def _bounty_out(b: Bounty) -> dict[str, Any]:
    return {
        "id": b.pk,
        "thread_ref": b.thread_ref,
        "title": b.title,
        "coins": default_currency().to_decimal(b.amount),
        "status": b.status,
        "offered_by": b.offerer.public_name,
        "answer_count": b.answer_count,
        "created_at": b.created_at,
        "expires_at": b.expires_at,
        "grace_ends_at": b.grace_ends_at,
        "winner": b.winner.public_name if b.winner_id else None,  # type: ignore[union-attr]
    }


def _bounty_errors(exc: Exception) -> ApiError:
    currency = default_currency()
    if isinstance(exc, InsufficientFunds):
        return ApiError(
            402,
            "insufficient_funds",
            "You do not have enough coins for this bounty.",
            coins_required=currency.to_decimal(exc.required),
            coins_available=currency.to_decimal(exc.available),
            coins_needed=currency.to_decimal(exc.needed),
        )
    if isinstance(exc, RewardsError):
        return ApiError(exc.status, exc.code, str(exc))
    raise exc


@router.post(
    "/rewards/bounties",
    auth=token_auth,
    response={201: BountyOut, 400: ErrorOut, 401: ErrorOut, 402: NeedCoinsOut},
    summary="Offer a bounty (coins go to escrow at once)",
)
def bounty_create(request: HttpRequest, payload: BountyIn) -> Status[dict[str, Any]]:
    currency = default_currency()
    try:
        amount = currency.to_minor(payload.coins)
    except (ValueError, InvalidOperation):
        raise ApiError(
            400, "invalid_request", f"coins has more than {currency.decimal_places} decimal places."
        ) from None
    try:
        bounty = services.bounty_create(
            offerer_id=request.auth.user.pk,  # type: ignore[attr-defined]
            thread_ref=payload.thread_ref,
            title=payload.title,
            amount=amount,
            expires_in_days=payload.expires_in_days,
            idempotency_key=payload.idempotency_key,
        )
    except (InsufficientFunds, RewardsError) as exc:
        raise _bounty_errors(exc) from None
    return Status(201, _bounty_out(Bounty.objects.select_related("offerer", "winner").get(pk=bounty.pk)))


@router.get("/rewards/bounties", response={200: BountyListOut, 400: ErrorOut}, summary="Open bounties")
def bounty_list(request: HttpRequest) -> dict[str, Any]:
    return {"bounties": [_bounty_out(b) for b in selectors.bounties_open()[:200]]}


@router.post(
    "/rewards/bounties/{bounty_id}/award",
    auth=token_auth,
    response={200: BountyOut, 400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut},
    summary="Award a bounty to an answerer (offerer only)",
)
def bounty_award(request: HttpRequest, bounty_id: int, payload: AwardIn) -> dict[str, Any]:
    if not 0 < bounty_id < 2**62:
        raise ApiError(404, "bounty_not_found", "No such bounty.")
    try:
        bounty = services.bounty_award(
            bounty_id=bounty_id,
            actor_id=request.auth.user.pk,  # type: ignore[attr-defined]
            winner_email=payload.winner.email,
        )
    except RewardsError as exc:
        raise _bounty_errors(exc) from None
    return _bounty_out(Bounty.objects.select_related("offerer", "winner").get(pk=bounty.pk))


@router.post(
    "/rewards/bounties/{bounty_id}/cancel",
    auth=token_auth,
    response={200: BountyOut, 400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut},
    summary="Cancel a bounty with no answers (offerer only)",
)
def bounty_cancel(request: HttpRequest, bounty_id: int, payload: TokenIn | None = None) -> dict[str, Any]:
    if not 0 < bounty_id < 2**62:
        raise ApiError(404, "bounty_not_found", "No such bounty.")
    try:
        bounty = services.bounty_cancel(bounty_id=bounty_id, actor_id=request.auth.user.pk)  # type: ignore[attr-defined]
    except RewardsError as exc:
        raise _bounty_errors(exc) from None
    return _bounty_out(Bounty.objects.select_related("offerer", "winner").get(pk=bounty.pk))
