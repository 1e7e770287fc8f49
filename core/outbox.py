"""Delivering domain events at least once, whatever the broker is doing at commit time.

`record()` writes the event row in the caller's transaction and, once it commits, asks a worker
to deliver it (`core.outbox_deliver`). If that ask fails (Redis down, the process killed right
after commit) nothing is lost: the row is still undelivered, and the beat sweep
(`core.outbox_sweep`, every 30 s) delivers whatever is due. Without a broker (the embedded
default) tasks run in-process, so delivery happens right after commit.

Delivery claims the row with one conditional UPDATE (a lease: `available_at` moves past the time a
delivery may take), so two workers never run the same event at once, on PostgreSQL and SQLite
alike. Each handler runs in its own transactions; when it returns, an OutboxDelivery row marks it
done, so a re-delivery skips it. A handler that raises is retried with backoff, the others are
not re-run. A crash between a handler's work and its mark runs that handler again: handlers are
idempotent by event id.
"""

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from .events import Delivered, Event, handlers_for
from .models import OutboxDelivery, OutboxEvent

logger = logging.getLogger(__name__)

# Longer than a delivery may run (core.outbox_deliver's hard time limit is 80 s): a worker that
# dies mid-delivery frees the event after it, and the next sweep delivers it again.
LEASE = timedelta(seconds=90)
MAX_BACKOFF = timedelta(hours=1)


def record(event: Event, payload: dict[str, Any]) -> int:
    row = OutboxEvent.objects.create(name=str(event), payload=payload, available_at=timezone.now())
    event_id = row.pk
    transaction.on_commit(lambda: kick(event_id))
    return event_id


# Events per delivery message of a bulk record: a worker delivers them one after the other, each
# under its own lease (`deliver`), so a long message never holds an event it has not reached.
KICK_CHUNK = 100


def record_many(event: Event, payloads: list[dict[str, Any]]) -> list[int]:
    """`record` for several payloads: one INSERT, and after commit one delivery message per
    KICK_CHUNK events instead of one each (an intake run posts hundreds of awards)."""
    now = timezone.now()
    rows = OutboxEvent.objects.bulk_create(
        [OutboxEvent(name=str(event), payload=payload, available_at=now) for payload in payloads]
    )
    event_ids = [int(row.pk) for row in rows]
    transaction.on_commit(lambda: kick_many(event_ids))
    return event_ids


def kick_many(event_ids: list[int]) -> None:
    """`kick` for several events, KICK_CHUNK per message. Never raises (the sweep delivers)."""
    from .tasks import outbox_deliver_many

    for start in range(0, len(event_ids), KICK_CHUNK):
        chunk = event_ids[start : start + KICK_CHUNK]
        try:
            outbox_deliver_many.apply_async((chunk,), retry=False)
        except Exception:  # as in kick: the broker's errors all mean "later"
            logger.warning("Outbox events #%s..#%s: could not queue delivery now; the sweep will", chunk[0], chunk[-1])
            return


def kick(event_id: int) -> None:
    """Ask a worker to deliver now. Never raises: if the broker cannot take the message (down,
    hung past its timeouts), the sweep delivers the event later."""
    from .tasks import outbox_deliver

    try:
        outbox_deliver.apply_async((event_id,), retry=False)
    except Exception:  # the broker's errors are many (kombu, redis, OSError): all mean "later"
        logger.warning("Outbox event #%s: could not queue delivery now; the sweep will", event_id, exc_info=True)


def _backoff(attempts: int) -> timedelta:
    return min(timedelta(seconds=30 * 2 ** max(0, attempts - 1)), MAX_BACKOFF)


def deliver(event_id: int) -> bool:
    """Run every handler of the event that has not run it yet. True when the event is now fully
    delivered; False when another worker holds it, it is not due, or a handler failed."""
    now = timezone.now()
    claimed = OutboxEvent.objects.filter(pk=event_id, delivered_at__isnull=True, available_at__lte=now).update(
        available_at=now + LEASE, attempts=F("attempts") + 1
    )
    if not claimed:
        return False
    event = OutboxEvent.objects.get(pk=event_id)
    done = set(OutboxDelivery.objects.filter(event_id=event_id).values_list("handler", flat=True))
    failed: list[str] = []
    for sub in handlers_for(event.name):
        if sub.name in done:
            continue
        try:
            sub.handler(Delivered(event_id=event.pk, name=Event(event.name), payload=dict(event.payload)))
        except Exception as exc:  # one handler's failure must not stop the others or lose the event
            logger.exception("Outbox event #%s (%s): handler %s failed", event.pk, event.name, sub.name)
            failed.append(f"{sub.name}: {type(exc).__name__}: {exc}"[:500])
            continue
        try:
            OutboxDelivery.objects.create(event_id=event.pk, handler=sub.name)
        except IntegrityError:  # a worker whose lease had lapsed finished it too: both idempotent
            pass
    now = timezone.now()
    if failed:
        OutboxEvent.objects.filter(pk=event.pk).update(
            available_at=now + _backoff(event.attempts), last_error="\n".join(failed)
        )
        return False
    OutboxEvent.objects.filter(pk=event.pk).update(delivered_at=now, available_at=now, last_error="")
    return True


def sweep(*, limit: int = 200) -> int:
    """Deliver events that are due (never kicked, kicked while the broker was down, failed and
    backed off, or leased by a worker that died). Returns how many were delivered. Also purges
    delivered events older than GOLDBOOK_OUTBOX_RETENTION_DAYS, a bounded batch per pass."""
    due = list(
        OutboxEvent.objects.filter(delivered_at__isnull=True, available_at__lte=timezone.now())
        .order_by("available_at", "id")
        .values_list("id", flat=True)[:limit]
    )
    delivered = sum(1 for event_id in due if deliver(event_id))
    purge(limit=limit * 5)
    return delivered


def purge(*, limit: int = 1000) -> int:
    cutoff = timezone.now() - timedelta(days=settings.GOLDBOOK_OUTBOX_RETENTION_DAYS)
    old = list(OutboxEvent.objects.filter(delivered_at__lt=cutoff).values_list("id", flat=True)[:limit])
    if not old:
        return 0
    deleted, _ = OutboxEvent.objects.filter(pk__in=old).delete()
    return deleted


def pending_count() -> int:
    return OutboxEvent.objects.filter(delivered_at__isnull=True).count()
