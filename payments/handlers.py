"""What payments does when an event it cares about is delivered (see core/events.py).

PURCHASE_COMPLETED: send the buyer's receipt email, here in the delivery. The event row commits
with the credit, so a broker outage at that moment only delays the receipt; a mail-server error
or a worker killed mid-send leaves the handler unmarked and the outbox retries it (with backoff).
Sending here rather than queuing another task means no message can be lost between the two. The
service sends nothing for a payment no longer completed. A crash between sending and the
delivery mark sends it again: a rare second receipt is better than none.
"""

from core.events import Delivered

from . import services


def send_purchase_receipt(event: Delivered) -> None:
    services.send_purchase_receipt(payment_id=int(event.payload["payment_id"]))
