"""Celery tasks of payments: interfaces that take ids and call one service."""

from celery import shared_task

from . import services


@shared_task(name="payments.poll", ignore_result=True, acks_late=True, soft_time_limit=50, time_limit=58)
def poll() -> dict[str, int]:
    """One poll pass (beat, every minute). Safe to overlap or repeat: every change is decided
    under the payment's row lock and crediting is idempotent."""
    report = services.poll_payments()
    return {"checked": report.checked, "updated": report.updated, "expired": report.expired}


@shared_task(
    name="payments.send_purchase_receipt",
    ignore_result=True,
    autoretry_for=(OSError,),
    retry_backoff=True,
    max_retries=5,
)
def send_purchase_receipt(payment_id: int) -> bool:
    """Kept for receipts queued before the outbox sent them itself (payments.handlers); nothing
    queues it now. Retried on mail-server errors."""
    return services.send_purchase_receipt(payment_id=payment_id)
