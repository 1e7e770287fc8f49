"""The notification centre's outbox handlers: each turns an event the apps below record into the
member's notification (portal.notifications.notify, idempotent by event id)."""

from django.urls import reverse
from django.utils.dateparse import parse_datetime

from core.events import Delivered
from downloads.models import Item
from payments.models import Payment
from rewards.models import Bounty

from .models import LedgerAuditRun, NotificationKind
from .notifications import notify


def purchase_completed(event: Delivered) -> None:
    payment = Payment.objects.filter(pk=event.payload["payment_id"]).first()
    if payment is None:
        return
    params = {
        "payment_id": payment.pk,
        "credits": payment.base_credits,
        "bonus": payment.bonus_credits,
        "package": payment.package_name,
        "link": reverse("payments:checkout", args=[payment.pk]),
    }
    notify(user_id=payment.user_id, kind=NotificationKind.PAYMENT_COMPLETED, event_id=event.event_id, params=params)


def payment_needs_review(event: Delivered) -> None:
    p = event.payload
    params = {"payment_id": p["payment_id"], "link": reverse("payments:checkout", args=[p["payment_id"]])}
    notify(user_id=p["user_id"], kind=NotificationKind.PAYMENT_NEEDS_REVIEW, event_id=event.event_id, params=params)


def award_granted(event: Delivered) -> None:
    p = event.payload
    params = {"award_id": p["award_id"], "amount": p["amount"], "rule": p.get("rule", "")}
    notify(user_id=p["user_id"], kind=NotificationKind.AWARD, event_id=event.event_id, params=params)


def award_reversed(event: Delivered) -> None:
    p = event.payload
    params = {k: p.get(k) for k in ("award_id", "amount", "taken", "debt", "reason")}
    notify(user_id=p["user_id"], kind=NotificationKind.AWARD_REVERSED, event_id=event.event_id, params=params)


def bounty_answered(event: Delivered) -> None:
    ids = event.payload.get("bounty_ids", [])
    for bounty in Bounty.objects.filter(pk__in=ids).only("pk", "title", "offerer_id"):
        params = {"bounty_id": bounty.pk, "title": bounty.title, "link": reverse("rewards:bounty", args=[bounty.pk])}
        notify(user_id=bounty.offerer_id, kind=NotificationKind.BOUNTY_ANSWERED, event_id=event.event_id, params=params)


def bounty_awarded(event: Delivered) -> None:
    p = event.payload
    params = {
        "bounty_id": p["bounty_id"],
        "title": p.get("title", ""),
        "amount": p["amount"],
        "link": reverse("rewards:bounty", args=[p["bounty_id"]]),
    }
    notify(user_id=p["winner_id"], kind=NotificationKind.BOUNTY_AWARDED, event_id=event.event_id, params=params)


def adjustment_approved(event: Delivered) -> None:
    p = event.payload
    params = {"request_id": p["request_id"], "amount": p["amount"], "reason": p.get("reason", "")}
    notify(user_id=p["user_id"], kind=NotificationKind.ADJUSTMENT, event_id=event.event_id, params=params)


def ea_reviewed(event: Delivered) -> None:
    p = event.payload
    if p.get("uploader_id") is None or bool(p.get("verified")) == bool(p.get("was_verified")):
        return  # no uploader to tell, or nothing changed for them
    item = Item.objects.filter(pk=p["item_id"]).only("pk", "title").first()
    if item is None:
        return
    params = {
        "item_id": item.pk,
        "title": item.title,
        "verified": bool(p["verified"]),
        "link": reverse("downloads:item", args=[item.pk]),
    }
    notify(user_id=p["uploader_id"], kind=NotificationKind.EA_REVIEWED, event_id=event.event_id, params=params)


def credits_expiring(event: Delivered) -> None:
    p = event.payload
    params = {"amount": p["amount"], "expires_at": p["expires_at"], "category": p.get("category", "")}
    notify(user_id=p["user_id"], kind=NotificationKind.CREDITS_EXPIRING, event_id=event.event_id, params=params)


def credits_expired(event: Delivered) -> None:
    p = event.payload
    params = {"amount": p["amount"], "transfer_id": p.get("transfer_id")}
    notify(user_id=p["user_id"], kind=NotificationKind.CREDITS_EXPIRED, event_id=event.event_id, params=params)


def ledger_audited(event: Delivered) -> None:
    """Keep the audit's result for the economy page (once per event)."""
    p = event.payload
    LedgerAuditRun.objects.get_or_create(
        event_id=event.event_id,
        defaults={
            "finished_at": parse_datetime(p["finished_at"]),
            "problem_count": int(p["problem_count"]),
            "vendor": str(p.get("vendor", ""))[:32],
            "summary": p.get("checks", {}),
        },
    )
