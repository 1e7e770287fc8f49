"""The two beat sweeps over open jobs: queue again the jobs nobody is running (lease lapsed), fail
the ones that may not run again. Their conditions are disjoint, so their order does not matter."""

from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.db.models import Q, QuerySet
from django.utils import timezone

from wallet.models import HoldStatus

from ..models import DownloadJob, JobStatus
from .job_lease import queued_grace
from .jobs import GIVEN_UP, TOO_LATE, job_fail


def _open() -> QuerySet[DownloadJob]:
    return DownloadJob.objects.filter(status__in=[JobStatus.QUEUED, JobStatus.RUNNING])


def _unattended(now: datetime) -> Q:
    """No run holds the job: queued, or running with a lease that lapsed (or was released)."""
    return Q(status=JobStatus.QUEUED) | Q(lease_until__isnull=True) | Q(lease_until__lte=now)


def _hold_gone() -> Q:
    return Q(hold__isnull=False) & ~Q(hold__status=HoldStatus.PENDING)


def _may_run(now: datetime) -> Q:
    return Q(deadline_at__gt=now, attempts__lt=settings.DOWNLOADS_JOB_MAX_ATTEMPTS) & ~_hold_gone()


def jobs_requeue_lapsed(*, now: datetime | None = None, limit: int = 200) -> list[int]:
    """Mark open jobs whose lease lapsed as queued again, and return their ids for the caller to
    queue a run each: a running job whose worker died, a queued job whose message was lost (a
    worker killed after taking it, a Redis restart). Each gets `queued_grace()`, so the next
    sweeps leave it alone while its message waits; a job no run has begun after that is queued
    again (a duplicate message does nothing: see job_lease)."""
    now = now or timezone.now()
    lapsed = Q(lease_until__isnull=True) | Q(lease_until__lte=now)
    candidates = list(
        _open().filter(lapsed & _may_run(now)).order_by("deadline_at").values_list("pk", flat=True)[:limit]
    )
    requeued = []
    for job_id in candidates:
        with transaction.atomic(durable=True):
            # Re-checked under the row lock: a run may have begun (or renewed) since the query.
            job = _open().filter(lapsed, pk=job_id).select_for_update(no_key=True).first()
            if job is None:
                continue
            job.status = JobStatus.QUEUED
            job.progress_done = 0
            job.lease_until = now + queued_grace()
            job.save(update_fields=["status", "progress_done", "lease_until"])
        requeued.append(job_id)
    return requeued


def jobs_fail_stale(*, now: datetime | None = None, limit: int = 200) -> int:
    """Fail open jobs that may not run again: their hold is no longer pending (expired), or nobody
    runs them and they are past their deadline or out of attempts (a job that crashed its worker
    DOWNLOADS_JOB_MAX_ATTEMPTS times). A running job with a live lease is left to finish: it began
    before its deadline, and its time limit ends it before its hold expires. Returns the count."""
    now = now or timezone.now()
    spent = Q(deadline_at__lte=now) | Q(attempts__gte=settings.DOWNLOADS_JOB_MAX_ATTEMPTS)
    due = list(
        _open()
        .filter(_hold_gone() | (_unattended(now) & spent))
        .order_by("deadline_at")
        .values_list("pk", "deadline_at")[:limit]
    )
    for job_id, deadline_at in due:
        job_fail(job_id=job_id, reason=TOO_LATE if deadline_at <= now else GIVEN_UP)
    return len(due)
