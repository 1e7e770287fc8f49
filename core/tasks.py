"""The outbox's two tasks: deliver one event now (queued after commit), and the beat sweep."""

from celery import shared_task

from . import outbox


@shared_task(name="core.outbox_deliver", ignore_result=True)
def outbox_deliver(event_id: int) -> None:
    outbox.deliver(event_id)


@shared_task(name="core.outbox_sweep", ignore_result=True)
def outbox_sweep() -> None:
    outbox.sweep()
