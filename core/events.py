"""Domain events: how one app tells the others that something happened.

A service records an event with `record(Event.X, payload)` inside the transaction that made it
true; the outbox (`core.outbox`) delivers it after commit, at least once, to every handler
subscribed to it. Handlers subscribe in their app's `AppConfig.ready()` with
`subscribe(Event.X, handler)` and must be idempotent by `event_id` (a handler may run again after
a crash between its work and the delivery mark). Search for `Event.X` to find every producer and
every handler of X.

The catalogue. Payload values are JSON; ids are ints.

MEMBER_JOINED: a member signed up (web or API).
    Recorded by accounts. Payload: user_id, ip (str or null), referral_code (str or null).
    Handled by rewards: attach the referral link; apply forum events that waited for the member.
PIN_LOCKED: a member's PIN sign-in was locked after too many failures.
    Recorded by accounts. Payload: user_id. Handled by accounts: the lockout notice email.
NEW_SIGN_IN_ADDRESS: a member signed in from an address never seen for them.
    Recorded by accounts. Payload: user_id, ip. Handled by accounts: the new-address email.
PURCHASE_COMPLETED: a purchase was credited (the only place: payments' completion).
    Recorded by payments. Payload: payment_id, user_id, wallet_address (str, may be empty).
    Handled by payments: the receipt email; rewards: the referral payout on a first purchase;
    portal: the member's notification.
EA_REVIEWED: staff verified or withdrew an uploaded EA.
    Recorded by downloads. Payload: item_id, uploader_id (or null), verified, was_verified.
    Handled by downloads: the decision email; rewards: the `ea.verified` award, or its claw-back
    when a verified EA is withdrawn; portal: the uploader's notification.
DOWNLOAD_JOB_QUEUED: a download job and its hold committed.
    Recorded by downloads. Payload: job_id. Handled by downloads: queue the job's run.
HOLD_EXPIRED: the expiry sweep released a hold nobody captured.
    Recorded by wallet. Payload: hold_id, account_id, amount. No handler yet.
BALANCE_CHANGED: a member's balance or held amount changed (every transfer kind, every hold
    placed, captured, released or expired), in the transaction that changed it.
    Recorded by wallet (wallet.services, the only writer). Payload: user_ids (list of int).
    Handled by wallet: push the new figures to the members' open pages (core.live).
    A live hint, so delivered the LIVE way (see LIVE below): after commit, in the committing
    process, at most once, without an outbox row.
ADJUSTMENT_APPROVED: staff approved (and so posted) a balance adjustment.
    Recorded by wallet. Payload: request_id, user_id, amount (signed minor units), reason.
    Handled by portal: the member's notification.
PAYMENT_NEEDS_REVIEW: a payment was moved to needs_review (short, unknown amount, a chain doubt).
    Recorded by payments. Payload: payment_id, user_id, detail. Handled by portal: notification.
AWARD_GRANTED: a reward was paid to a member (forum activity, referral payouts, EA verified).
    Recorded by rewards. Payload: award_id, user_id, amount (minor units), rule (its name).
    Handled by portal: the member's notification.
AWARD_REVERSED: an award was taken back. Recorded by rewards. Payload: award_id, user_id,
    amount, taken (minor units taken from the balance), debt (the rest), reason.
    Handled by portal: the member's notification, with the reason.
BOUNTY_ANSWERED: an answer arrived on a thread with open bounties. Recorded by rewards.
    Payload: bounty_ids, offerer_ids (parallel lists). Handled by portal: the offerers' notification.
BOUNTY_AWARDED: a bounty was awarded. Recorded by rewards. Payload: bounty_id, winner_id,
    amount (minor units), title. Handled by portal: the winner's notification.
CREDITS_EXPIRING: a member's promotional credits expire within GOLDBOOK_CREDIT_EXPIRY_NOTICE_DAYS
    (once per lot). Recorded by wallet (`credits_announce_expiring`). Payload: lot_id, user_id,
    account_id, category, amount (minor units left), expires_at (ISO 8601). Handled by portal:
    the member's notification (the announcement before expiry).
CREDITS_EXPIRED: promotional credits expired (an `expiry` transfer). Recorded by wallet
    (`credits_expire`). Payload: lot_id, user_id, amount, transfer_id. Handled by portal:
    the member's notification.
"""

import logging
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from django.db import transaction


class Event(StrEnum):
    MEMBER_JOINED = "member.joined"
    PIN_LOCKED = "member.pin_locked"
    NEW_SIGN_IN_ADDRESS = "member.new_sign_in_address"
    PURCHASE_COMPLETED = "payment.purchase_completed"
    EA_REVIEWED = "download.ea_reviewed"
    DOWNLOAD_JOB_QUEUED = "download.job_queued"
    HOLD_EXPIRED = "wallet.hold_expired"
    BALANCE_CHANGED = "wallet.balance_changed"
    ADJUSTMENT_APPROVED = "wallet.adjustment_approved"
    PAYMENT_NEEDS_REVIEW = "payment.needs_review"
    AWARD_GRANTED = "reward.award_granted"
    AWARD_REVERSED = "reward.award_reversed"
    BOUNTY_ANSWERED = "reward.bounty_answered"
    BOUNTY_AWARDED = "reward.bounty_awarded"
    CREDITS_EXPIRING = "wallet.credits_expiring"
    CREDITS_EXPIRED = "wallet.credits_expired"
    LEDGER_AUDITED = "wallet.ledger_audited"


# Events whose worth expires in seconds: a push to open pages, which poll when they miss one.
# The outbox's at-least-once delivery would cost every transfer a row, a broker message and a
# worker's claim / mark / delivered writes (bench/ledger.py: 8x fewer transfers per second on the
# embedded default, about half behind a broker), to re-deliver, after an outage, figures the page
# has polled since. These run their handlers right after the recording transaction commits, in
# that process, never inside it; a rollback drops them, and a crash right after commit loses them.
LIVE = frozenset({Event.BALANCE_CHANGED})

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Delivered:
    """What a handler receives: the event's row id (its idempotency key), name and payload."""

    event_id: int
    name: Event
    payload: dict[str, Any]


Handler = Callable[[Delivered], None]


@dataclass(frozen=True)
class Subscription:
    name: str  # stable: recorded per delivery, so renaming a handler re-runs it once
    handler: Handler


_handlers: dict[Event, list[Subscription]] = {}


def subscribe(event: Event, handler: Handler, *, name: str | None = None) -> None:
    """Register `handler` for `event` (from an AppConfig.ready()). Registering the same name twice
    replaces the first (ready() may run again in tests)."""
    key = name or f"{handler.__module__}.{handler.__qualname__}"
    subs = [s for s in _handlers.get(event, []) if s.name != key]
    subs.append(Subscription(key, handler))
    _handlers[event] = subs


def handlers_for(event: Event | str) -> list[Subscription]:
    try:
        return list(_handlers.get(Event(event), []))
    except ValueError:  # a row whose event this code no longer knows: nothing handles it
        return []


def record(event: Event, payload: dict[str, Any]) -> int:
    """Record `event` in the current transaction (required) and deliver it after commit.
    Returns the event id (0 for a LIVE event, which has no row). Nothing happens if the
    transaction rolls back."""
    if event in LIVE:
        transaction.on_commit(lambda: _deliver_live(event, payload))
        return 0
    from . import outbox

    return outbox.record(event, payload)


def record_many(event: Event, payloads: list[dict[str, Any]]) -> list[int]:
    """`record` for several payloads of one event, in one INSERT and one after-commit kick (an
    intake run's awards). The same rows `record` writes; returns their ids, in order."""
    if not payloads:
        return []
    if event in LIVE:
        for payload in payloads:
            record(event, payload)
        return [0] * len(payloads)
    from . import outbox

    return outbox.record_many(event, payloads)


def _deliver_live(event: Event, payload: dict[str, Any]) -> None:
    for sub in handlers_for(event):
        try:
            sub.handler(Delivered(event_id=0, name=event, payload=payload))
        except Exception:  # the committed request must not fail for a missed live hint
            logger.exception("Live event %s: handler %s failed", event, sub.name)
