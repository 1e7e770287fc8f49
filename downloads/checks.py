from typing import Any

from django.conf import settings
from django.core import checks


@checks.register()
def hold_outlives_job(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    """A job's hold must not expire while the job may still be running, or a slow job would be
    captured against an expired hold (and fail) instead of being failed by the deadline sweep."""
    if settings.DOWNLOADS_HOLD_TTL_SECONDS <= settings.DOWNLOADS_JOB_TIME_LIMIT:
        return [
            checks.Error(
                "DOWNLOADS_HOLD_TTL_SECONDS must be longer than DOWNLOADS_JOB_TIME_LIMIT.",
                id="downloads.E001",
            )
        ]
    return []
