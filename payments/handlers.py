"""What payments does when an event it cares about is delivered (see core/events.py).

PURCHASE_COMPLETED: queue the buyer's receipt email. The event row commits with the credit, so a
broker outage at that moment only delays the receipt (the outbox re-delivers; queuing fails
loudly, and this handler is retried). The task sends nothing for a payment no longer completed.
A crash between queuing and the delivery mark queues it again: a rare second receipt is
better than none.
"""

from core.events import Delivered

from .tasks import send_purchase_receipt as send_purchase_receipt_task


def send_purchase_receipt(event: Delivered) -> None:
    send_purchase_receipt_task.delay(int(event.payload["payment_id"]))
