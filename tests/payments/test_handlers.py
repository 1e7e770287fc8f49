"""A completed purchase tells the other apps through the outbox: the event commits with the
credit, and the receipt follows even when the broker was down at commit time."""

import pytest

from core import outbox, tasks
from core.events import Event
from core.models import OutboxEvent

from .conftest import ipn_body, make_payment, post_ipn

pytestmark = pytest.mark.django_db


def test_completion_records_one_purchase_completed_event(cp_settings, rsps, client, django_capture_on_commit_callbacks):
    payment = make_payment(rsps)
    with django_capture_on_commit_callbacks(execute=True):
        post_ipn(client, ipn_body(payment))
        post_ipn(client, ipn_body(payment, ipn_id="dup"))  # a duplicate credits nothing, tells nobody
    events = list(OutboxEvent.objects.filter(name=Event.PURCHASE_COMPLETED))
    assert [e.payload for e in events] == [{"payment_id": payment.pk, "user_id": payment.user_id, "wallet_address": ""}]
    assert events[0].delivered_at is not None


def test_receipt_survives_a_broker_outage_at_commit(
    cp_settings, rsps, client, mailoutbox, monkeypatch, django_capture_on_commit_callbacks
):
    payment = make_payment(rsps)

    def broker_down(*args, **kwargs):
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    with monkeypatch.context() as patched:
        patched.setattr(tasks.outbox_deliver, "apply_async", broker_down)
        with django_capture_on_commit_callbacks(execute=True):
            assert post_ipn(client, ipn_body(payment)).status_code == 200
    assert mailoutbox == [] and outbox.pending_count() == 1  # credited; the receipt is owed

    assert outbox.sweep() == 1  # the broker is back: the beat sweep delivers
    assert outbox.sweep() == 0
    assert len(mailoutbox) == 1 and mailoutbox[0].to == [payment.user.email]
