"""Celery tasks: ids in, one service call each. Explicit names, JSON arguments."""

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import InterfaceError, OperationalError

from . import notifications, services
from .models import Item

logger = logging.getLogger(__name__)


@shared_task(
    name="downloads.run_job",
    bind=True,
    ignore_result=True,
    # A worker that dies mid-job is covered by the job's lease (services/job_lease.py): the lease
    # sweep below queues the job again once it lapses. acks_late and reject_on_worker_lost are
    # backstops (the message comes back after a lost pool process at once, after a killed worker
    # once Redis's visibility_timeout passes); safe because a run begins only when no other run
    # holds a live lease and completes only if it is the job's latest, so the loops Celery warns
    # about end at once, and a job that kills its worker every time fails after
    # DOWNLOADS_JOB_MAX_ATTEMPTS runs.
    acks_late=True,
    reject_on_worker_lost=True,
    autoretry_for=(OperationalError, InterfaceError),
    max_retries=3,
    retry_backoff=2,
    retry_backoff_max=30,
    soft_time_limit=settings.DOWNLOADS_JOB_TIME_LIMIT - 30,
    time_limit=settings.DOWNLOADS_JOB_TIME_LIMIT,
)
def run_download_job(self: object, job_id: int) -> None:
    try:
        services.job_run(job_id=job_id)
    except SoftTimeLimitExceeded:
        services.job_fail(job_id=job_id, reason="The download took too long; nothing was charged.")
    except (OperationalError, InterfaceError):
        raise  # transient: Celery retries with backoff; the retry resumes the job
    except Exception:
        logger.exception("Job #%s: failed with an unexpected error", job_id)
        services.job_fail(job_id=job_id, reason="The download failed; nothing was charged.")
        raise


@shared_task(name="downloads.fail_stale_jobs", ignore_result=True, acks_late=True)
def fail_stale_jobs() -> int:
    """Fail and release jobs that may not run again (past their deadline or out of attempts with
    nobody running them) or whose hold expired. Safe to run twice."""
    return services.jobs_fail_stale()


@shared_task(name="downloads.requeue_lapsed_jobs", ignore_result=True, soft_time_limit=50, time_limit=60)
def requeue_lapsed_jobs() -> int:
    """Queue a run for each job nobody is running (beat, every 15 s). If the broker refuses a
    message (down, or past the broker's socket timeouts) this raises and the job, marked queued
    and leased for one more lease period, is queued again by a later sweep."""
    job_ids = services.jobs_requeue_lapsed()
    for job_id in job_ids:
        run_download_job.delay(job_id)
    return len(job_ids)


@shared_task(name="downloads.notify_ea_decision", ignore_result=True, max_retries=3, default_retry_delay=60)
def notify_ea_decision(item_id: int) -> None:
    """Kept for messages queued before EA decisions went through the outbox (handlers.py sends
    the email now); remove once no worker can hold one."""
    item = Item.objects.filter(pk=item_id).only("verification").first()
    if item is not None:
        notifications.ea_decision(item_id=item_id, verified=item.is_verified)
