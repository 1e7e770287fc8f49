from celery import shared_task

from .economy import rollups
from .economy.mail import previous_month, send_month_report


@shared_task(name="portal.economy_report_monthly", ignore_result=True, soft_time_limit=600, time_limit=660)
def economy_report_monthly() -> int:
    """On the 1st (CELERY_BEAT_SCHEDULE): email last month's economy report to
    GOLDBOOK_ECONOMY_REPORT_EMAILS. Not retried: a failed send is sent by hand with
    `manage.py economy_report --month YYYY-MM --email`."""
    return send_month_report(month=previous_month())


@shared_task(name="portal.economy_rollup_refresh", ignore_result=True, soft_time_limit=1500, time_limit=1560)
def economy_rollup_refresh() -> int:
    """Every 10 minutes: roll up the ledger's hours closed since the last run (the economy page
    reads the rest live). Safe to run twice: each run rebuilds its hours under the state's lock."""
    return rollups.refresh().rows


@shared_task(name="portal.economy_rollup_reconcile", ignore_result=True, soft_time_limit=3300, time_limit=3600)
def economy_rollup_reconcile() -> int:
    """Nightly: compare the rollups with the ledger; the economy page shows the result."""
    return len(rollups.reconcile())
