"""The outbox's tasks: deliver one event now (queued after commit), or several recorded together,
and the beat sweep."""

from celery import shared_task

from . import outbox


# Handlers are short (they send a mail, queue a task, post a transfer); the limits keep a stuck one
# from outliving the delivery's 90 s claim (core.outbox.LEASE), after which another worker may run it.
@shared_task(name="core.outbox_deliver", ignore_result=True, soft_time_limit=60, time_limit=80)
def outbox_deliver(event_id: int) -> None:
    outbox.deliver(event_id)


# Up to core.outbox.KICK_CHUNK events recorded together (`record_many`); each has its own lease,
# so the time limits only leave the ones not reached yet to the sweep.
@shared_task(name="core.outbox_deliver_many", ignore_result=True, soft_time_limit=240, time_limit=270)
def outbox_deliver_many(event_ids: list[int]) -> None:
    for event_id in event_ids:
        outbox.deliver(event_id)


@shared_task(name="core.outbox_sweep", ignore_result=True, soft_time_limit=240, time_limit=270)
def outbox_sweep() -> None:
    outbox.sweep()
