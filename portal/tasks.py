from celery import shared_task

from .economy.mail import previous_month, send_month_report


@shared_task(name="portal.economy_report_monthly", ignore_result=True, soft_time_limit=600, time_limit=660)
def economy_report_monthly() -> int:
    """On the 1st (CELERY_BEAT_SCHEDULE): email last month's economy report to
    GOLDBOOK_ECONOMY_REPORT_EMAILS. Not retried: a failed send is sent by hand with
    `manage.py economy_report --month YYYY-MM --email`."""
    return send_month_report(month=previous_month())
