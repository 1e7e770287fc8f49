"""A job's lease (issue 10, item 6): a run whose worker died is taken over once its lease lapses,
never while it is live; a superseded run commits nothing; the sweeps queue again what nobody runs
and fail only what may not run again. tests/integration/test_worker_crash.py does it for real."""

from datetime import timedelta
from unittest import mock

import pytest
from django.utils import timezone

from downloads import services
from downloads.models import DownloadJob, DownloadRecord, JobStatus
from downloads.services.job_lease import JobLease, LeaseLost
from downloads.services.jobs import _job_begin, _job_complete
from tests.factories import UserFactory, fund, make_songs
from wallet.models import HoldStatus, Transfer
from wallet.selectors import balance_for_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def job():
    user = UserFactory()
    fund(user, "5")
    make_songs(3)
    return services.job_start(user=user, requested_songs=3).job


def _cut_off(job: DownloadJob) -> DownloadJob:
    """What a worker killed mid-job leaves behind: running, attempt 1, a lease nobody renews."""
    begun = _job_begin(job.pk)
    assert begun is not None
    job.refresh_from_db()
    assert (job.status, job.attempts) == (JobStatus.RUNNING, 1) and job.lease_until > timezone.now()
    return job


def _after_lease(job: DownloadJob):
    return job.lease_until + timedelta(seconds=1)


def _charged_once(job: DownloadJob) -> None:
    job.refresh_from_db()
    assert (job.status, job.credits_charged) == (JobStatus.COMPLETED, 105)
    assert job.hold.status == HoldStatus.CAPTURED and Transfer.objects.filter(hold=job.hold).count() == 1
    assert DownloadRecord.objects.filter(job=job).count() == 3
    assert balance_for_user(user_id=job.user_id).balance == 500 - 105


def test_a_run_holding_a_live_lease_is_not_run_twice(job):
    _cut_off(job)
    assert services.job_run(job_id=job.pk) is None  # a duplicate message, a redelivery
    job.refresh_from_db()
    assert (job.status, job.attempts) == (JobStatus.RUNNING, 1)
    assert services.jobs_requeue_lapsed() == []
    assert services.jobs_fail_stale() == 0


def test_a_run_cut_off_is_queued_again_when_its_lease_lapses_and_completes_once(job):
    """Before the lease, such a job stayed running until the stale sweep failed it."""
    job = _cut_off(job)
    later = _after_lease(job)
    assert services.jobs_requeue_lapsed(now=later) == [job.pk]
    job.refresh_from_db()
    assert job.status == JobStatus.QUEUED and job.lease_until > later
    assert services.jobs_requeue_lapsed(now=later) == []  # its message is waiting: not queued twice
    assert services.jobs_fail_stale(now=later) == 0

    services.job_run(job_id=job.pk)
    services.job_run(job_id=job.pk)  # the original message, back after visibility_timeout
    _charged_once(job)
    assert job.attempts == 2


def test_a_redelivered_message_takes_over_a_lapsed_lease_without_the_sweep(job):
    job = _cut_off(job)
    with mock.patch("django.utils.timezone.now", return_value=_after_lease(job)):
        assert _job_begin(job.pk) is not None
    job.refresh_from_db()
    assert (job.status, job.attempts) == (JobStatus.RUNNING, 2)


def test_a_superseded_run_stops_and_commits_nothing(job):
    """A stalled run (not dead) whose lease lapsed is fenced off by the newer run's attempt."""
    job = _cut_off(job)
    _job_begin_at(job, _after_lease(job))  # the newer run, attempt 2
    old = JobLease(job_id=job.pk, attempt=1, total=3)
    with pytest.raises(LeaseLost):
        old.renew(progress_done=1)

    with pytest.raises(LeaseLost):
        _job_complete(old, [1, 2, 3], 10, "x.zip")
    job.refresh_from_db()
    assert (job.status, job.attempts, job.credits_charged) == (JobStatus.RUNNING, 2, 0)
    assert not DownloadRecord.objects.exists()


def _job_begin_at(job, now):
    with mock.patch("django.utils.timezone.now", return_value=now):
        begun = _job_begin(job.pk)
    assert begun is not None
    return begun


def test_a_superseded_run_stops_while_packing(job):
    job = _cut_off(job)
    _job_begin_at(job, _after_lease(job))  # attempt 2
    with pytest.raises(LeaseLost):
        JobLease(job_id=job.pk, attempt=1, total=3).progress(1)  # the next song of attempt 1


def test_a_slow_run_the_sweep_queued_again_takes_its_job_back(job):
    """No newer run began: the slow run's next renewal reclaims the job and it completes once."""
    job = _cut_off(job)
    assert services.jobs_requeue_lapsed(now=_after_lease(job)) == [job.pk]
    JobLease(job_id=job.pk, attempt=1, total=3).renew(progress_done=2)
    job.refresh_from_db()
    assert (job.status, job.progress_done) == (JobStatus.RUNNING, 2)


def test_an_error_releases_the_lease_so_the_retry_begins_at_once(job):
    with mock.patch("downloads.services.jobs.build_archive", side_effect=OSError("disk full")):
        with pytest.raises(OSError):
            services.job_run(job_id=job.pk)
    job.refresh_from_db()
    assert (job.status, job.lease_until) == (JobStatus.RUNNING, None)
    services.job_run(job_id=job.pk)
    _charged_once(job)


def test_a_job_that_keeps_killing_its_worker_fails_after_max_attempts(job, settings):
    settings.DOWNLOADS_JOB_MAX_ATTEMPTS = 2
    job = _cut_off(job)
    _job_begin_at(job, _after_lease(job))  # attempt 2 dies too
    job.refresh_from_db()
    later = _after_lease(job)
    assert services.jobs_requeue_lapsed(now=later) == []
    assert services.jobs_fail_stale(now=later) == 1
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.hold.status == HoldStatus.RELEASED
    assert balance_for_user(user_id=job.user_id).held == 0


def test_no_run_begins_after_the_deadline_but_a_live_one_may_finish(job):
    job = _cut_off(job)
    assert job.deadline_at < job.hold.expires_at  # every run, within its time limit, ends first
    past_deadline = job.deadline_at + timedelta(seconds=1)
    DownloadJob.objects.filter(pk=job.pk).update(lease_until=past_deadline + timedelta(seconds=30))
    assert services.jobs_fail_stale(now=past_deadline) == 0  # running, lease live: left to finish
    assert services.jobs_requeue_lapsed(now=past_deadline + timedelta(minutes=1)) == []
    assert services.jobs_fail_stale(now=past_deadline + timedelta(minutes=1)) == 1
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED


def test_a_queued_job_whose_message_was_lost_is_queued_again(job):
    """A worker killed after taking the message but before the run began, or a Redis restart."""
    later = _after_lease(job)
    assert services.jobs_requeue_lapsed(now=later) == [job.pk]
    services.job_run(job_id=job.pk)
    _charged_once(job)
    assert job.attempts == 1


def test_the_requeue_task_queues_a_run_for_each_lapsed_job(job):
    from downloads.tasks import requeue_lapsed_jobs

    job = _cut_off(job)
    with mock.patch("django.utils.timezone.now", return_value=_after_lease(job)):
        assert requeue_lapsed_jobs.apply().get() == 1  # eager: the queued run ran
    _charged_once(job)


def test_broker_visibility_timeout_must_outlast_the_job_check(settings):
    from downloads.checks import broker_redelivery_outlasts_job

    assert broker_redelivery_outlasts_job(None) == []
    settings.CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": settings.DOWNLOADS_JOB_TIME_LIMIT}
    assert broker_redelivery_outlasts_job(None)[0].id == "downloads.E002"
