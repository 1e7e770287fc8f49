"""The monthly economy report for the accountant: the page's CSV for a calendar month in the
site's time zone, written by `manage.py economy_report` or emailed by the beat task."""

from datetime import date, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.mail import EmailMessage
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from . import export
from .report import build, month_period


def site_zone() -> ZoneInfo:
    return ZoneInfo(settings.GOLDBOOK_DEFAULT_TIME_ZONE)


def month_csv(*, month: date, zone: ZoneInfo | None = None) -> tuple[str, str]:
    """(file name, CSV) of the report for the month containing `month`."""
    with translation.override(settings.LANGUAGE_CODE):
        report = build(month_period(month, zone or site_zone()))
        return export.filename(report), export.report_csv(report)


def previous_month() -> date:
    """The first day of the month before today's (in the site's time zone)."""
    return (timezone.localdate(timezone=site_zone()).replace(day=1) - timedelta(days=1)).replace(day=1)


def send_month_report(*, month: date) -> int:
    """Email the month's report to GOLDBOOK_ECONOMY_REPORT_EMAILS; returns the recipients (0:
    nobody is configured, nothing is built)."""
    recipients = list(settings.GOLDBOOK_ECONOMY_REPORT_EMAILS)
    if not recipients:
        return 0
    name, body = month_csv(month=month)
    with translation.override(settings.LANGUAGE_CODE):
        subject = _("%(site)s economy report for %(month)s") % {
            "site": settings.GOLDBOOK_SITE_NAME,
            "month": f"{month:%Y-%m}",
        }
        text = _("The economy report for %(month)s is attached (CSV, days in %(zone)s).") % {
            "month": f"{month:%Y-%m}",
            "zone": settings.GOLDBOOK_DEFAULT_TIME_ZONE,
        }
    message = EmailMessage(subject=subject, body=text, to=recipients)
    message.attach(name, body, "text/csv")
    message.send()
    return len(recipients)
