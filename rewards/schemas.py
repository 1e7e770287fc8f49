"""Request and response schemas of the rewards API (`rewards.api`). Their class names are the
OpenAPI component names: renaming one changes the published document."""

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

import pydantic
from django.conf import settings
from ninja import Field, Schema

from core.api import ErrorOut, Money

from .models import EventType

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
