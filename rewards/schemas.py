"""Request and response schemas of the rewards API (`rewards.api`). Their class names are the
OpenAPI component names: renaming one changes the published document."""

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Literal

import pydantic
from django.conf import settings
from ninja import Field, Schema

from core.api import ErrorOut, Money

from .models import EventType
from .services.intake_batch import BATCH_MAX

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


class BatchItemOut(Schema):
    STATUSES: ClassVar[tuple[str, ...]] = ("applied", "pending", "failed", "duplicate", "rejected")

    index: int
    event_id: str | None
    status: Literal["applied", "pending", "failed", "duplicate", "rejected"]
    stored_status: str | None = None  # the stored event's status (accepted or duplicate)
    note: str = ""
    error: str | None = None  # the code of a rejection: invalid_event, event_conflict
    message: str | None = None


class BatchOut(Schema):
    results: list[BatchItemOut]
    counts: dict[str, int]


# The intake endpoint reads its body itself (the signature covers the raw bytes), so ninja cannot
# document it from a parameter: this is its OpenAPI description.
EVENT_BODY_DOC = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": EventIn.model_json_schema()}},
        "description": (
            "Signed with a timestamp: X-Goldbook-Timestamp: <Unix seconds> (within 5 minutes of the "
            "server's clock) and X-Goldbook-Signature: sha256=<hex HMAC-SHA256 of "
            '"<timestamp>." + the raw body, with the integration\'s secret>.'
        ),
    },
    "parameters": [
        {"name": "X-Goldbook-Integration", "in": "header", "required": True, "schema": {"type": "string"}},
        {"name": "X-Goldbook-Signature", "in": "header", "required": True, "schema": {"type": "string"}},
        {"name": "X-Goldbook-Timestamp", "in": "header", "required": True, "schema": {"type": "string"}},
    ],
}


EVENT_BATCH_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["events"],
                    "properties": {
                        "events": {
                            "type": "array",
                            "minItems": 1,
                            "maxItems": BATCH_MAX,
                            "items": EventIn.model_json_schema(),
                        }
                    },
                }
            }
        },
        "description": (
            f"Up to {BATCH_MAX} events in one body, signed as one event is (the "
            "signature covers the whole raw body). Each event gets its own result, in order."
        ),
    },
    "parameters": EVENT_BODY_DOC["parameters"],
}


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


# --- bounties ---------------------------------------------------------------------------------


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


class AwardIn(Schema):
    session_token: str | None = None
    # The forum's id of an answer on the bounty's thread (its answer.posted event's object.id).
    answer_id: str = Field(..., min_length=1, max_length=128)


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
