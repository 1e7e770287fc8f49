"""The outbox: events recorded with their transaction, delivered at least once, each handler once."""

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from core import events, outbox
from core.events import Delivered, Event
from core.models import OutboxDelivery, OutboxEvent

pytestmark = pytest.mark.django_db


@pytest.fixture
def handled(monkeypatch):
    """Two handlers on HOLD_EXPIRED (which has none in the product): one records what it saw, one
    fails while `fail` holds True."""
    seen: list[Delivered] = []
    state = {"fail": False}

    def ok(delivered: Delivered) -> None:
        seen.append(delivered)

    def flaky(delivered: Delivered) -> None:
        if state["fail"]:
            raise RuntimeError("handler down")

    monkeypatch.setattr(events, "_handlers", {**events._handlers})
    events.subscribe(Event.HOLD_EXPIRED, ok, name="test.ok")
    events.subscribe(Event.HOLD_EXPIRED, flaky, name="test.flaky")
    return seen, state


def _record(payload):
    with transaction.atomic():
        return events.record(Event.HOLD_EXPIRED, payload)


def test_rolled_back_transaction_records_nothing(handled, django_capture_on_commit_callbacks):
    seen, _ = handled
    with django_capture_on_commit_callbacks(execute=True):
        with pytest.raises(RuntimeError), transaction.atomic():
            events.record(Event.HOLD_EXPIRED, {"hold_id": 1})
            raise RuntimeError("rollback")
    assert not OutboxEvent.objects.exists() and seen == []


def test_committed_event_reaches_every_handler_once(handled, django_capture_on_commit_callbacks):
    seen, _ = handled
    with django_capture_on_commit_callbacks(execute=True):
        event_id = _record({"hold_id": 7})
    assert [(d.event_id, d.name, d.payload) for d in seen] == [(event_id, Event.HOLD_EXPIRED, {"hold_id": 7})]
    event = OutboxEvent.objects.get(pk=event_id)
    assert event.delivered_at is not None and event.attempts == 1
    assert set(OutboxDelivery.objects.values_list("handler", flat=True)) == {"test.ok", "test.flaky"}
    assert outbox.deliver(event_id) is False  # delivered: a late duplicate kick runs nothing
    assert len(seen) == 1


def test_failed_handler_is_retried_alone_after_backoff(handled, django_capture_on_commit_callbacks):
    seen, state = handled
    state["fail"] = True
    with django_capture_on_commit_callbacks(execute=True):
        event_id = _record({"hold_id": 8})
    event = OutboxEvent.objects.get(pk=event_id)
    assert event.delivered_at is None and "handler down" in event.last_error
    assert event.available_at > timezone.now() + timedelta(seconds=20)  # backed off
    assert outbox.sweep() == 0  # not due yet
    state["fail"] = False
    OutboxEvent.objects.filter(pk=event_id).update(available_at=timezone.now())
    assert outbox.sweep() == 1
    assert len(seen) == 1  # the handler that had succeeded did not run again
    assert OutboxEvent.objects.get(pk=event_id).delivered_at is not None


def test_lost_kick_is_delivered_by_the_sweep(handled, monkeypatch, django_capture_on_commit_callbacks):
    """The broker refuses the after-commit message: the request goes on, the sweep delivers."""
    seen, _ = handled
    from core import tasks

    def broker_down(*args, **kwargs):
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    with monkeypatch.context() as patched:
        patched.setattr(tasks.outbox_deliver, "apply_async", broker_down)
        with django_capture_on_commit_callbacks(execute=True):
            event_id = _record({"hold_id": 9})
    assert seen == [] and outbox.pending_count() == 1
    assert outbox.sweep() == 1
    assert [d.event_id for d in seen] == [event_id]


def test_a_leased_event_is_not_delivered_twice(handled):
    seen, _ = handled
    event_id = _record({"hold_id": 10})  # no on_commit run: nobody delivered it yet
    OutboxEvent.objects.filter(pk=event_id).update(available_at=timezone.now() + outbox.LEASE)
    assert outbox.deliver(event_id) is False and seen == []
    # The lease lapses (the worker holding it died): the sweep takes it.
    OutboxEvent.objects.filter(pk=event_id).update(available_at=timezone.now() - timedelta(seconds=1))
    assert outbox.sweep() == 1 and len(seen) == 1


def test_old_delivered_events_are_purged(settings):
    settings.GOLDBOOK_OUTBOX_RETENTION_DAYS = 7
    now = timezone.now()
    old = OutboxEvent.objects.create(name="x", available_at=now, delivered_at=now - timedelta(days=8))
    recent = OutboxEvent.objects.create(name="x", available_at=now, delivered_at=now - timedelta(days=1))
    pending = OutboxEvent.objects.create(name="x", available_at=now)
    assert outbox.purge() == 1
    assert set(OutboxEvent.objects.values_list("pk", flat=True)) == {recent.pk, pending.pk}
    assert not OutboxEvent.objects.filter(pk=old.pk).exists()


def test_unknown_event_names_have_no_handlers():
    assert events.handlers_for("no.such.event") == []


def test_the_outbox_command_reports_and_delivers(handled, monkeypatch):
    from io import StringIO

    from django.core.management import call_command

    seen, state = handled
    state["fail"] = True
    _record({"hold_id": 11})  # never kicked: as if the broker had been down
    out = StringIO()
    call_command("outbox", stdout=out)
    assert "wallet.hold_expired: 1 undelivered" in out.getvalue()
    call_command("outbox", "--deliver", stdout=(out := StringIO()))
    assert "handler down" in out.getvalue()  # the failing handler and its error are shown
    state["fail"] = False
    OutboxEvent.objects.update(available_at=timezone.now())
    call_command("outbox", "--deliver", stdout=(out := StringIO()))
    assert "Delivered 1 events." in out.getvalue() and "nothing undelivered" in out.getvalue()


def test_record_many_writes_the_rows_record_writes_and_kicks_once_per_chunk(
    handled, monkeypatch, django_capture_on_commit_callbacks
):
    """An intake run's awards: one INSERT, one delivery message per KICK_CHUNK events."""
    seen, _ = handled
    from core import tasks

    messages: list[list[int]] = []
    real = tasks.outbox_deliver_many.apply_async
    monkeypatch.setattr(outbox, "KICK_CHUNK", 3)

    def spy(args, **kwargs):
        messages.append(list(args[0]))
        return real(args, **kwargs)

    monkeypatch.setattr(tasks.outbox_deliver_many, "apply_async", spy)
    with django_capture_on_commit_callbacks(execute=True):
        single = _record({"hold_id": 0})
        with transaction.atomic():
            ids = events.record_many(Event.HOLD_EXPIRED, [{"hold_id": n} for n in range(1, 8)])
    assert messages == [ids[0:3], ids[3:6], ids[6:7]]
    rows = list(OutboxEvent.objects.order_by("pk").values_list("pk", "name", "payload"))
    assert rows == [(single, "wallet.hold_expired", {"hold_id": 0})] + [
        (pk, "wallet.hold_expired", {"hold_id": n}) for pk, n in zip(ids, range(1, 8), strict=True)
    ]
    assert sorted(d.payload["hold_id"] for d in seen) == list(range(8))
    assert not OutboxEvent.objects.filter(delivered_at=None).exists()


def test_record_many_with_the_broker_down_is_delivered_by_the_sweep(
    handled, monkeypatch, django_capture_on_commit_callbacks
):
    seen, _ = handled
    from core import tasks

    def broker_down(*args, **kwargs):
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    monkeypatch.setattr(tasks.outbox_deliver_many, "apply_async", broker_down)
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        events.record_many(Event.HOLD_EXPIRED, [{"hold_id": n} for n in range(5)])
    assert seen == [] and outbox.pending_count() == 5
    assert outbox.sweep() == 5 and len(seen) == 5
