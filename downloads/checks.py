from typing import Any

from django.conf import settings
from django.core import checks


@checks.register()
def hold_outlives_job(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    """A job's hold must not expire while the job may still be running: no run begins after the
    job's deadline (creation + hold TTL - time limit), so the TTL must be the longer."""
    if settings.DOWNLOADS_HOLD_TTL_SECONDS <= settings.DOWNLOADS_JOB_TIME_LIMIT:
        return [
            checks.Error(
                "DOWNLOADS_HOLD_TTL_SECONDS must be longer than DOWNLOADS_JOB_TIME_LIMIT.",
                id="downloads.E001",
            )
        ]
    return []


@checks.register()
def broker_redelivery_outlasts_job(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    """Redis hands an unacknowledged message to another worker `visibility_timeout` after it was
    delivered, live worker or not: shorter than a job's time limit, a running job's message would
    be delivered again mid-run (harmless under the job's lease, but a wasted run every time)."""
    options = getattr(settings, "CELERY_BROKER_TRANSPORT_OPTIONS", None) or {}
    if options.get("visibility_timeout", 3600) <= settings.DOWNLOADS_JOB_TIME_LIMIT:
        return [
            checks.Error(
                "CELERY_BROKER_TRANSPORT_OPTIONS['visibility_timeout'] must be longer than DOWNLOADS_JOB_TIME_LIMIT.",
                id="downloads.E002",
            )
        ]
    return []
