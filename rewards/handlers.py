"""What the rewards program does when other apps report something (see core/events.py).

Each handler is idempotent: a referral is attached once per member, a first-purchase payout is
keyed by the purchase, and forum activity recorded for an EA uses a fixed event id per decision.
"""

import logging
from typing import Any

from django.db import transaction

from core.events import Delivered

from . import services
from .errors import ReferralRefused
from .models import EventType

logger = logging.getLogger(__name__)


def member_joined(event: Delivered) -> None:
    """Attach the referral link the member came through, then apply forum activity that arrived
    before they had an account (rewards kept it until then)."""
    user_id = int(event.payload["user_id"])
    code = event.payload.get("referral_code")
    if code:
        try:
            services.referral_attach(user_id=user_id, code=str(code), ip=event.payload.get("ip"))
        except ReferralRefused as exc:
            logger.info("User #%s: referral code not recorded: %s", user_id, exc)
    services.pending_events_apply(user_id=user_id)


def purchase_completed(event: Delivered) -> None:
    """A referred member's first purchase pays the referrer (keyed by the purchase: once)."""
    payload = event.payload
    services.referral_on_first_purchase(
        user_id=int(payload["user_id"]),
        purchase_ref=f"payment:{payload['payment_id']}",
        wallet_address=payload.get("wallet_address") or None,
    )


def ea_reviewed(event: Delivered) -> None:
    """A verified EA earns its uploader the `ea.verified` award; withdrawing a verified EA counts
    as deleting the content, which claws the award back. Fixed event ids: at most once each."""
    payload = event.payload
    uploader_id, item_id = payload.get("uploader_id"), payload["item_id"]
    if not uploader_id:
        return
    if payload.get("verified"):
        event_id, event_type = f"ea-verified:{item_id}", EventType.EA_VERIFIED
    elif payload.get("was_verified"):
        event_id, event_type = f"ea-withdrawn:{item_id}", EventType.POST_DELETED
    else:
        return
    services.activity_record(
        source=services.GOLDBOOK_SOURCE,
        event_id=event_id,
        type=event_type,
        user_id=int(uploader_id),
        object_type="ea",
        object_id=str(item_id),
    )


def email_confirmed(sender: object, email_address: Any, **kwargs: Any) -> None:
    """allauth's `email_confirmed`: events that waited for this address now credit its member.
    Only after the commit, so a rolled-back confirmation credits nothing."""
    user_id = email_address.user_id
    transaction.on_commit(lambda: services.pending_events_apply(user_id=user_id))
