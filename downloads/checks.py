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


@checks.register(checks.Tags.security, deploy=True)
def proxy_declared(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    """Production runs behind the reverse proxy of docker-compose.yml (config/nginx.conf), and
    says how many proxies set X-Forwarded-For: undeclared, every client shares the proxy's IP,
    so one client's failed PINs lock everyone's sign-in (issue 11, item 8). Downloads are
    streamed by the proxy (X-Accel-Redirect), not by a gunicorn worker."""
    if settings.DEBUG or getattr(settings, "GOLDBOOK_TRUSTED_PROXY_COUNT_DECLARED", True):
        found: list[checks.CheckMessage] = []
    else:
        found = [
            checks.Error(
                "GOLDBOOK_TRUSTED_PROXY_COUNT is not set.",
                hint="Set it to the number of proxies that set X-Forwarded-For (1 with docker-compose.yml's nginx).",
                id="downloads.E003",
            )
        ]
    if not settings.DEBUG and not settings.DOWNLOADS_X_ACCEL_REDIRECT_PREFIX:
        found.append(
            checks.Warning(
                "DOWNLOADS_X_ACCEL_REDIRECT_PREFIX is empty: gunicorn workers stream every download.",
                hint="Set it to the proxy's internal location (/protected/ in config/nginx.conf).",
                id="downloads.W004",
            )
        )
    return found
