"""A running job's lease in PostgreSQL: how a job cut off by a worker crash is run again, never
twice at once, never charged twice.

Why a lease in the database and not only the broker's redelivery: Redis gives an unacknowledged
message to another worker `visibility_timeout` after it was delivered, dead worker or not, so that
timeout must outlast the longest run (10 minutes) and recovery through it alone would take longer
than that. The lease lapses `DOWNLOADS_JOB_LEASE_SECONDS` after the run's last sign of life instead.

- A run begins under the job's row lock only if no other run holds a live lease; it takes the
  next attempt number (`attempts`), which is its fencing token.
- It renews the lease as it packs songs (`JobLease.progress`): a conditional UPDATE that matches
  only while `attempts` is still its number. When it no longer matches, a newer run has begun (this
  one was presumed dead after a stall longer than the lease): LeaseLost, and it stops.
- It completes under the row lock only if `attempts` is still its number, so of two runs that
  ever overlap (a stalled one and its successor) only one commits the records and the capture;
  the capture is keyed by the hold besides, so it happens once whatever happens.
- The lease sweep (job_sweeps.jobs_requeue_lapsed) queues jobs whose lease lapsed again.
"""

import logging
import time
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError
from django.utils import timezone

from ..models import DownloadJob, JobStatus

logger = logging.getLogger(__name__)


class LeaseLost(Exception):
    """A newer run of the job has begun: this run stops and commits nothing."""


def lease_duration() -> timedelta:
    return timedelta(seconds=settings.DOWNLOADS_JOB_LEASE_SECONDS)


def queued_grace() -> timedelta:
    """How long a queued job waits for a run to begin before it is queued again (its message lost
    with a killed worker or a Redis restart). Longer than a lease: under a backlog every waiting
    job would otherwise get a duplicate message each lease period."""
    return 4 * lease_duration()


@dataclass
class JobLease:
    """The lease one run holds on its job, identified by the run's attempt number."""

    job_id: int
    attempt: int
    total: int
    renewed: float = field(default_factory=time.monotonic)

    def _renewal_due(self) -> bool:
        # A third of the lease: two renewals can be late before another run may take the job over.
        return time.monotonic() - self.renewed >= settings.DOWNLOADS_JOB_LEASE_SECONDS / 3

    def renew(self, *, progress_done: int) -> None:
        """Extend the lease and record progress; LeaseLost if a newer run has begun. A job the
        sweep queued again while this run was slow (still this attempt) is simply taken back."""
        updated = DownloadJob.objects.filter(
            pk=self.job_id, attempts=self.attempt, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]
        ).update(status=JobStatus.RUNNING, lease_until=timezone.now() + lease_duration(), progress_done=progress_done)
        if not updated:
            raise LeaseLost(f"job #{self.job_id}: attempt {self.attempt} was superseded or the job finished")
        self.renewed = time.monotonic()

    def progress(self, done: int) -> None:
        """Called after each song: writes progress every 5% and renews the lease when due. The last
        song always renews, so saving the archive starts with a full lease."""
        step = max(1, self.total // 20)
        if done % step == 0 or done == self.total or self._renewal_due():
            self.renew(progress_done=done)

    def release(self) -> None:
        """The run ended with an error in this process: let the retry begin at once instead of
        waiting out the lease. If the database is what failed, the lease just lapses."""
        try:
            DownloadJob.objects.filter(pk=self.job_id, attempts=self.attempt, status=JobStatus.RUNNING).update(
                lease_until=None
            )
        except DatabaseError:
            logger.warning("Job #%s: lease of attempt %s not released; it lapses", self.job_id, self.attempt)
