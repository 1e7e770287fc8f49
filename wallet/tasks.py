from celery import shared_task

from . import services
from .audit import record_audit, run_audit


@shared_task(name="wallet.expire_holds", ignore_result=True, acks_late=True)
def expire_holds() -> int:
    """Release holds nobody captured or released in time. Safe to run twice: each hold is
    re-checked under its row lock."""
    return services.holds_expire()


@shared_task(name="wallet.expire_credits", ignore_result=True, acks_late=True)
def expire_credits() -> int:
    """Tell members about promotional credits expiring soon, then expire the ones due. Safe to
    run twice: announcements are marked once per lot, and each expiry re-reads its lot under the
    account's row lock."""
    services.credits_announce_expiring()
    return services.credits_expire()


@shared_task(name="wallet.audit_ledger", ignore_result=True, soft_time_limit=3300, time_limit=3600)
def audit_ledger() -> int:
    """The daily ledger audit (the `audit_ledger` command's checks); its result is recorded as
    Event.LEDGER_AUDITED. Reads only: running it twice records two results."""
    result = run_audit()
    record_audit(result)
    return result.problem_count
