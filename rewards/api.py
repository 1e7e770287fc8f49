"""JSON API of rewards: signed activity intake, the store, redeeming, leaderboards, bounties.

Domain errors (`rewards.errors`, `core.errors.GoldbookError`) answer themselves through the one
handler in `core.api`; a payment's shortfall is answered in coins by `_paying`.
"""

from collections.abc import Iterator
from contextlib import contextmanager
from decimal import InvalidOperation
from typing import Any

import pydantic
from django.http import HttpRequest
from django.utils.translation import gettext as _
from ninja import Query, Router, Status
from ninja.errors import AuthenticationError

from accounts.api import api_session, token_auth
from core.api import ErrorOut
from core.errors import GoldbookError
from core.idempotency import IdempotencyKeyHeader, clean_key
from core.jsonbody import request_json
from wallet.errors import InsufficientFunds
from wallet.models import Currency
from wallet.selectors import balance_for_user, default_currency

from . import selectors, services
from .errors import BountyNotFound
from .models import Bounty
from .schemas import (
    EVENT_BATCH_DOC,
    EVENT_BODY_DOC,
    AwardIn,
    BatchItemOut,
    BatchOut,
    BountyIn,
    BountyListOut,
    BountyOut,
    EventIn,
    EventOut,
    LeaderboardOut,
    LeaderboardQuery,
    NeedCoinsOut,
    RedeemIn,
    RedeemOut,
    StoreOut,
    TokenIn,
)
from .signatures import check_signature
from .throttle import bounty_award_throttle

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


def need_coins(exc: InsufficientFunds, message: str) -> GoldbookError:
    """Rewards' one "insufficient funds" answer: 402 with what the member has and lacks, in coins."""
    currency = default_currency()
    return GoldbookError(
        message,
        status=402,
        code="insufficient_funds",
        coins_required=currency.to_decimal(exc.required),
        coins_available=currency.to_decimal(exc.available),
        coins_needed=currency.to_decimal(exc.needed),
    )


@contextmanager
def _paying(shortfall_message: str) -> Iterator[None]:
    """A payment's shortfall answered in coins (`need_coins`). The wallet's other refusals
    (IdempotencyConflict: 409) answer themselves."""
    try:
        yield
    except InsufficientFunds as exc:
        raise need_coins(exc, shortfall_message) from None


# --- activity intake ------------------------------------------------------------------------


def _event_valid(payload: Any) -> EventIn:
    """A parsed body (or one event of a batch) as an event: the schema, then the email. 400 otherwise."""
    try:
        event = EventIn.model_validate(payload)
    except pydantic.ValidationError as exc:
        errors = exc.errors()
        where = ".".join(str(p) for p in errors[0]["loc"]) if errors else ""
        raise GoldbookError(f"{where}: {errors[0]['msg']}" if errors else "The event is not valid.") from None
    email = (event.user.email or "").strip()
    if email and ("@" not in email or len(email) < 3):
        raise GoldbookError("user.email is not an email address.")
    return event


def _spec(event: EventIn) -> services.EventSpec:
    return services.EventSpec(
        event_id=event.event_id,
        type=event.type,
        occurred_at=event.occurred_at,
        user_email=(event.user.email or "").strip(),
        user_external_id=str(event.user.external_id) if event.user.external_id is not None else "",
        object_type=event.object.type,
        object_id=str(event.object.id),
        data=event.data,
    )


@router.post(
    "/rewards/events",
    response={200: EventOut, 202: EventOut, 400: ErrorOut, 401: ErrorOut, 409: ErrorOut},
    openapi_extra=EVENT_BODY_DOC,
    summary="Post one forum activity event (HMAC-signed)",
)
def post_event(request: HttpRequest) -> Status[dict[str, Any]]:
    """202 when accepted (applied, or stored until its user appears), 200 for a replay of an
    event_id already received with the same content, 409 for an event_id reused with other
    content, 400 for a malformed event, 401 for a bad or stale signature."""
    integration = check_signature(request)
    spec = _spec(_event_valid(request_json(request)))  # InvalidBody (400): malformed, deep, non-finite
    result = services.activity_record(source=integration.name, **vars(spec))
    stored = result.event
    body = {"event_id": stored.event_id, "status": stored.status, "replay": not result.created, "note": stored.note}
    return Status(202 if result.created else 200, body)


def _batch_in(request: HttpRequest) -> list[services.EventSpec | GoldbookError]:
    """The signed body as a batch, {"events": [event, …]} with 1 to BATCH_MAX events (413 above).
    Each event is checked on its own: a malformed one becomes its error, the others go on."""
    payload = request_json(request)  # InvalidBody (400): malformed, deep, non-finite
    events = payload.get("events") if isinstance(payload, dict) else None
    if not isinstance(events, list) or not events:
        raise GoldbookError(_("The body must be a JSON object with a non-empty list of events."))
    if len(events) > services.BATCH_MAX:
        message = _("At most %(max)s events per batch.") % {"max": services.BATCH_MAX}
        raise GoldbookError(message, status=413, code="batch_too_large", limit=services.BATCH_MAX)
    out: list[services.EventSpec | GoldbookError] = []
    for raw in events:
        try:
            out.append(_spec(_event_valid(raw)))
        except GoldbookError as exc:
            out.append(GoldbookError(exc.message, code="invalid_event"))
    return out


def _batch_result(index: int, item: services.BatchItem | GoldbookError) -> dict[str, Any]:
    if isinstance(item, GoldbookError):
        return {"index": index, "event_id": None, "status": "rejected", "error": item.code, "message": item.message}
    if item.error is not None:
        error = {"error": item.error.code, "message": item.error.message}
        return {"index": index, "event_id": item.event_id, "status": "rejected", **error}
    stored = item.event
    assert stored is not None
    status = stored.status if item.outcome == services.Outcome.ACCEPTED else "duplicate"
    return {
        "index": index,
        "event_id": item.event_id,
        "status": status,
        "stored_status": stored.status,
        "note": stored.note,
    }


@router.post(
    "/rewards/events/batch",
    response={200: BatchOut, 400: ErrorOut, 401: ErrorOut, 413: ErrorOut},
    openapi_extra=EVENT_BATCH_DOC,
    summary="Post up to 500 forum activity events in one HMAC-signed request",
)
def post_event_batch(request: HttpRequest) -> Status[dict[str, Any]]:
    """200 with one result per event, in order (see BatchItemOut), 400 for a body that is not a
    batch, 413 above 500 events, 401 for a bad or stale signature."""
    integration = check_signature(request)
    parsed = _batch_in(request)
    recorded = iter(
        services.events_record(source=integration.name, events=[p for p in parsed if not isinstance(p, GoldbookError)])
    )
    results = [_batch_result(i, p if isinstance(p, GoldbookError) else next(recorded)) for i, p in enumerate(parsed)]
    counts = {s: sum(r["status"] == s for r in results) for s in BatchItemOut.STATUSES}
    return Status(200, {"results": results, "counts": counts})


# --- store ----------------------------------------------------------------------------------


def _reward_out(item: selectors.StoreItem) -> dict[str, Any]:
    reward = item.reward
    return {
        "id": reward.pk,
        "name": reward.name,
        "description": reward.description,
        "kind": reward.kind,
        "coins_required": item.price_decimal,
        "stock": reward.stock,
        "per_user_limit": reward.per_user_limit,
        "affordable": item.affordable,
    }


@router.get("/rewards/store", response={200: StoreOut, 400: ErrorOut, 401: ErrorOut}, summary="The reward store")
def store(request: HttpRequest) -> dict[str, Any]:
    """Live rewards. With `Authorization: Bearer` the `affordable` flags are the member's."""
    user = _optional_user(request)
    items = selectors.store_items(user_id=user.pk if user else None)
    return {
        "rewards": [_reward_out(i) for i in items],
        "balance": balance_for_user(user_id=user.pk).available_decimal if user else None,
    }


_REDEEM_RESPONSES = {
    200: RedeemOut,
    201: RedeemOut,
    400: ErrorOut,
    401: ErrorOut,
    402: NeedCoinsOut,
    404: ErrorOut,
    409: ErrorOut,
}


@router.post("/rewards/redeem", auth=token_auth, response=_REDEEM_RESPONSES, summary="Redeem a reward")
def redeem(
    request: HttpRequest, payload: RedeemIn, idempotency_key: IdempotencyKeyHeader = None
) -> Status[dict[str, Any]]:
    """201 with the redemption (the same one again for a repeated key, header or body); 402 when
    the member cannot afford it; 409 when out of stock, over the per-user limit, or the key was
    used for another reward."""
    key = clean_key(idempotency_key, payload.idempotency_key)
    user_id = api_session(request).user_id
    with _paying("You do not have enough coins for this reward."):
        result = services.reward_redeem(user_id=user_id, reward_id=payload.reward_id, idempotency_key=key)
    redemption, currency = result.redemption, result.currency
    # From what the service returned: a read after commit could fail and hide the redemption.
    return Status(
        201,
        {
            "redemption_id": redemption.pk,
            "status": redemption.status,
            "coins_spent": currency.to_decimal(redemption.price),
            "new_balance": currency.to_decimal(result.available),
        },
    )


# --- leaderboard ------------------------------------------------------------------------------


def _entry_out(entry: selectors.LeaderboardEntry) -> dict[str, Any]:
    return {
        "rank": entry.rank,
        "display_name": entry.display_name,
        "coins_earned": entry.coins_decimal,
        "badges": entry.badges,
        "title": entry.title,
    }


@router.get("/rewards/leaderboard", response={200: LeaderboardOut, 400: ErrorOut, 401: ErrorOut}, summary="Top earners")
def leaderboard(request: HttpRequest, q: Query[LeaderboardQuery]) -> dict[str, Any]:
    """Coins earned (not bought, not balance) this period. `me` when a Bearer token is given;
    its rank is null while the member has earned nothing this period."""
    user = _optional_user(request)
    board = selectors.leaderboard(period=q.period, limit=q.limit, user_id=user.pk if user else None)
    out: dict[str, Any] = {
        "period": board.period,
        "bucket": board.bucket,
        "entries": [_entry_out(e) for e in board.entries],
    }
    if board.me is not None:
        out["me"] = {"rank": board.me.rank, "coins_earned": board.me.coins_decimal}
    return out


# --- bounties ---------------------------------------------------------------------------------


def _bounty_out(bounty_id: int) -> dict[str, Any]:
    return _bounty_row(Bounty.objects.select_related("offerer", "winner").get(pk=bounty_id))


def _bounty_row(b: Bounty, currency: Currency | None = None) -> dict[str, Any]:
    return {
        "id": b.pk,
        "thread_ref": b.thread_ref,
        "title": b.title,
        "coins": (currency or default_currency()).to_decimal(b.amount),
        "status": b.status,
        "offered_by": selectors.member_name(b.offerer),
        "answer_count": b.answer_count,
        "created_at": b.created_at,
        "expires_at": b.expires_at,
        "grace_ends_at": b.grace_ends_at,
        "winner": selectors.member_name(b.winner) if b.winner is not None else None,
    }


def _bounty_id(bounty_id: int) -> int:
    """A path id the database can hold; anything else is a bounty that does not exist (404)."""
    if not 0 < bounty_id < 2**62:
        raise BountyNotFound("No such bounty.")
    return bounty_id


@router.post(
    "/rewards/bounties",
    auth=token_auth,
    response={201: BountyOut, 400: ErrorOut, 401: ErrorOut, 402: NeedCoinsOut, 409: ErrorOut},
    summary="Offer a bounty (coins go to escrow at once)",
)
def bounty_create(
    request: HttpRequest, payload: BountyIn, idempotency_key: IdempotencyKeyHeader = None
) -> Status[dict[str, Any]]:
    key = clean_key(idempotency_key, payload.idempotency_key)
    currency = default_currency()
    try:
        amount = currency.to_minor(payload.coins)
    except (ValueError, InvalidOperation):
        raise GoldbookError(
            _("coins has more than %(places)s decimal places.") % {"places": currency.decimal_places}
        ) from None
    with _paying("You do not have enough coins for this bounty."):
        bounty = services.bounty_create(
            offerer_id=api_session(request).user_id,
            thread_ref=payload.thread_ref,
            title=payload.title,
            amount=amount,
            expires_in_days=payload.expires_in_days,
            idempotency_key=key,
        )
    # From the bounty the service returned (offerer loaded before commit): a read after the
    # escrow committed could fail and answer "nothing was changed".
    return Status(201, _bounty_row(bounty, currency))


@router.get("/rewards/bounties", response={200: BountyListOut, 400: ErrorOut}, summary="Open bounties")
def bounty_list(request: HttpRequest) -> dict[str, Any]:
    return {"bounties": [_bounty_row(b) for b in selectors.bounties_open()[:200]]}


_BOUNTY_ACTION_RESPONSES = {200: BountyOut, 400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut}


@router.post(
    "/rewards/bounties/{bounty_id}/award",
    auth=token_auth,
    response={**_BOUNTY_ACTION_RESPONSES, 429: ErrorOut},
    summary="Award a bounty to an answer on its thread (offerer only, throttled)",
)
def bounty_award(request: HttpRequest, bounty_id: int, payload: AwardIn) -> dict[str, Any]:
    actor_id = api_session(request).user_id
    bounty_award_throttle(request, actor_id=actor_id)
    bounty = services.bounty_award(bounty_id=_bounty_id(bounty_id), actor_id=actor_id, answer_id=payload.answer_id)
    return _bounty_out(bounty.pk)


@router.post(
    "/rewards/bounties/{bounty_id}/cancel",
    auth=token_auth,
    response=_BOUNTY_ACTION_RESPONSES,
    summary="Cancel a bounty with no answers (offerer only)",
)
def bounty_cancel(request: HttpRequest, bounty_id: int, payload: TokenIn | None = None) -> dict[str, Any]:
    bounty = services.bounty_cancel(bounty_id=_bounty_id(bounty_id), actor_id=api_session(request).user_id)
    return _bounty_out(bounty.pk)
