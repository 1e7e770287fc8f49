from celery import shared_task

from . import services


@shared_task(name="wallet.expire_holds", ignore_result=True, acks_late=True)
def expire_holds() -> int:
    """Release holds nobody captured or released in time. Safe to run twice: each hold is
    re-checked under its row lock."""
    return services.holds_expire()
