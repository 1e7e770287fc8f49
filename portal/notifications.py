"""The notification centre: writing notifications (from the outbox handlers), reading them, and
rendering their text in the reader's language."""

import logging
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import formats, timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from core.live import publish
from wallet.selectors import default_currency

from .models import Notification, NotificationKind

logger = logging.getLogger(__name__)


def notify(*, user_id: int, kind: NotificationKind, event_id: int, params: dict[str, Any]) -> Notification:
    """Store the member's notification for this event once, then tell their open pages the new
    unread count. Idempotent by (member, event)."""
    try:
        with transaction.atomic():
            note = Notification.objects.create(
                user_id=user_id, kind=kind, event_id=event_id, params=params, created_at=timezone.now()
            )
    except IntegrityError:  # a re-delivered event: already stored
        return Notification.objects.get(user_id=user_id, event_id=event_id)
    logger.info("Notification #%s: %s for user #%s", note.pk, kind, user_id)
    _push_unread(user_id)
    return note


def unread_count(*, user_id: int) -> int:
    return Notification.objects.filter(user_id=user_id, read_at__isnull=True).count()


def for_member(*, user_id: int) -> QuerySet[Notification]:
    return Notification.objects.filter(user_id=user_id).order_by("-id")


def mark_read(*, user_id: int, notification_id: int) -> bool:
    """Mark one of the member's notifications read. False when it is not theirs (or not there)."""
    found = Notification.objects.filter(user_id=user_id, pk=notification_id)
    if not found.exists():
        return False
    found.filter(read_at__isnull=True).update(read_at=timezone.now())
    _push_unread(user_id)
    return True


def mark_all_read(*, user_id: int) -> int:
    marked = Notification.objects.filter(user_id=user_id, read_at__isnull=True).update(read_at=timezone.now())
    _push_unread(user_id)
    return marked


def _push_unread(user_id: int) -> None:
    # Other open tabs of the member show the new count without a reload.
    publish(user_id=user_id, event={"type": "notifications", "unread": unread_count(user_id=user_id)})


def _money(minor: object) -> str:
    """An amount with the site's money name (GOLDBOOK_CURRENCY_NAME, in the reader's language
    where the catalogue has it)."""
    amount: Decimal = default_currency().to_decimal(int(minor))  # type: ignore[call-overload]
    return f"{amount} {_(settings.GOLDBOOK_CURRENCY_NAME)}"


def message(note: Notification) -> str:
    """The notification's sentence in the active language."""
    p = note.params
    kind = note.kind
    if kind == NotificationKind.PAYMENT_COMPLETED:
        values = {"credits": _money(p.get("credits", 0)), "bonus": _money(p.get("bonus", 0))}
        if p.get("bonus"):
            return _("Your payment was credited: %(credits)s plus a %(bonus)s bonus.") % values
        return _("Your payment was credited: %(credits)s.") % values
    if kind == NotificationKind.PAYMENT_NEEDS_REVIEW:
        return _("Your payment #%(payment)s needs a review by our staff; we will credit it once checked.") % {
            "payment": p.get("payment_id", "")
        }
    if kind == NotificationKind.AWARD:
        return _("You earned %(amount)s: %(rule)s.") % {"amount": _money(p.get("amount", 0)), "rule": p.get("rule", "")}
    if kind == NotificationKind.AWARD_REVERSED:
        return _("A reward of %(amount)s was reversed. Reason: %(reason)s.") % {
            "amount": _money(p.get("amount", 0)),
            "reason": p.get("reason", ""),
        }
    if kind == NotificationKind.BOUNTY_ANSWERED:
        return _("Your bounty “%(title)s” has a new answer.") % {"title": p.get("title", "")}
    if kind == NotificationKind.BOUNTY_AWARDED:
        return _("You won the bounty “%(title)s”: %(amount)s.") % {
            "title": p.get("title", ""),
            "amount": _money(p.get("amount", 0)),
        }
    if kind == NotificationKind.ADJUSTMENT:
        amount = int(p.get("amount", 0))
        values = {"amount": _money(abs(amount)), "reason": p.get("reason", "")}
        if amount < 0:
            return _("Staff deducted %(amount)s from your balance. Reason: %(reason)s.") % values
        return _("Staff added %(amount)s to your balance. Reason: %(reason)s.") % values
    if kind == NotificationKind.EA_REVIEWED:
        if p.get("verified"):
            return _("Your EA “%(title)s” was verified.") % {"title": p.get("title", "")}
        return _("Your EA “%(title)s” was withdrawn from verified.") % {"title": p.get("title", "")}
    if kind == NotificationKind.CREDITS_EXPIRING:
        expires = parse_datetime(str(p.get("expires_at", "")))
        when = formats.date_format(timezone.localtime(expires), "DATETIME_FORMAT") if expires else ""
        return _("%(amount)s of your promotional balance expire on %(when)s: spend them before then.") % {
            "amount": _money(p.get("amount", 0)),
            "when": when,
        }
    if kind == NotificationKind.CREDITS_EXPIRED:
        return _("%(amount)s of your promotional balance expired unspent.") % {"amount": _money(p.get("amount", 0))}
    return str(note.get_kind_display())
