"""A worker killed with `kill -9` mid-queue (issue 10, item 6): the job it was running is picked up
again and completes, charged once, within two minutes of a new worker starting; no job fails.

Real pieces: a private redis-server on a free port (the broker), a real beat process, a real
worker on the test database, killed with SIGKILL while a job is half done, then a second worker.
The worker reads item files through a slow storage (tests/slow_worker_settings.py), so a job
takes a few seconds and the kill lands inside one.
"""

import os
import signal
import subprocess
import sys
import time
from datetime import datetime

import pytest
from django.utils import timezone

from downloads import services
from downloads.models import DownloadJob, DownloadRecord, JobStatus
from tests.celery_worker import ROOT, start_worker, stop_worker, worker_env
from tests.factories import UserFactory, fund, make_songs
from tests.integration.test_broker_outage import REDIS_SERVER, broker  # noqa: F401  (a private Redis)
from wallet import services as wallet
from wallet.audit import run_audit
from wallet.models import HoldStatus, SystemAccount, Transfer
from wallet.selectors import balance_for_user, system_account_balance

MEMBERS, SONGS, SONG_SECONDS = 5, 6, 0.4
PRICE = 35 * SONGS
LEASE_SECONDS = 10
RECOVERY_SECONDS = 120  # the bound: every job completed within two minutes of the new worker
WAIT_SECONDS = int(os.environ.get("CRASH_WAIT", "180"))  # cold workers on a loaded 2-core machine

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(REDIS_SERVER is None and os.environ.get("CI") != "true", reason="needs redis-server"),
]


def _start_beat(env: dict[str, str], tmp) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "celery", "-A", "config", "beat", "-l", "warning"]
    cmd += ["-s", str(tmp / "beat-schedule"), "--pidfile", str(tmp / "beat.pid")]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def _wait(condition, seconds: float, *procs: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and all(p.poll() is None for p in procs):
        if condition():
            return True
        time.sleep(0.2)
    return condition()


def _open_jobs() -> list[tuple[str, str, int, int]]:
    return list(
        DownloadJob.objects.exclude(status=JobStatus.COMPLETED).values_list(
            "public_id", "status", "attempts", "progress_done"
        )
    )


def test_a_job_cut_off_by_kill_9_is_run_again_and_completes_charged_once(broker, settings, tmp_path):  # noqa: F811 (fixture)
    broker.start()
    media = tmp_path / "media"
    media.mkdir()
    settings.MEDIA_ROOT = media
    env = worker_env(
        REDIS_URL=broker.url,
        MEDIA_ROOT=str(media),
        DJANGO_SETTINGS_MODULE="tests.slow_worker_settings",
        SLOW_STORAGE_DELAY=str(SONG_SECONDS),
        # A short lease (renewed every third of it, songs 0.4 s apart) so the cut-off job lapses in seconds, not
        # the production 45 s: the test waits for recovery, not for a realistic lease.
        DOWNLOADS_JOB_LEASE_SECONDS=str(LEASE_SECONDS),
    )
    make_songs(SONGS)
    members = [UserFactory() for _ in range(MEMBERS)]
    for member in members:
        fund(member, "10.00")

    beat = _start_beat(env, tmp_path)
    doomed = start_worker(env, name="doomed")
    survivor = None
    try:
        jobs = [services.job_start(user=member, requested_songs=SONGS).job for member in members]

        # --- mid-queue: one job done, one half done, the rest waiting; then SIGKILL -------------
        def mid_queue() -> bool:
            done = DownloadJob.objects.filter(status=JobStatus.COMPLETED).exists()
            half = DownloadJob.objects.filter(status=JobStatus.RUNNING, progress_done__gte=2).exists()
            return done and half

        if not _wait(mid_queue, WAIT_SECONDS, doomed):
            pytest.fail(f"the first worker never reached mid-queue: {_open_jobs()}\n{stop_worker(doomed)}")
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.wait(timeout=10)
        victim = DownloadJob.objects.get(status=JobStatus.RUNNING)
        assert DownloadJob.objects.filter(status=JobStatus.QUEUED).exists()

        # --- a new worker: every job completes, the cut-off one included -----------------------
        started_at: datetime = timezone.now()
        survivor = start_worker(env, name="survivor")
        if not _wait(lambda: not _open_jobs(), WAIT_SECONDS, survivor, beat):
            pytest.fail(f"jobs not completed: {_open_jobs()}\n{stop_worker(survivor)}\n{stop_worker(beat)}")
    finally:
        if doomed.poll() is None:
            stop_worker(doomed)
        if survivor is not None:
            stop_worker(survivor)
        stop_worker(beat)

    last_done = max(DownloadJob.objects.values_list("finished_at", flat=True))
    recovery = (last_done - started_at).total_seconds()
    print(f"\nkill -9 recovery: last job completed {recovery:.1f} s after the new worker started")
    assert recovery < RECOVERY_SECONDS

    victim.refresh_from_db()
    assert victim.status == JobStatus.COMPLETED and victim.attempts == 2
    for job, member in zip(jobs, members, strict=True):
        job.refresh_from_db()
        assert (job.status, job.delivered_songs, job.credits_charged) == (JobStatus.COMPLETED, SONGS, PRICE)
        assert job.hold.status == HoldStatus.CAPTURED and job.hold.captured_amount == PRICE
        assert Transfer.objects.filter(hold=job.hold).count() == 1  # captured once
        assert DownloadRecord.objects.filter(job=job).count() == SONGS  # each song delivered once
        bal = balance_for_user(user_id=member.pk)
        assert (bal.balance, bal.held) == (1000 - PRICE, 0)  # charged exactly once
    revenue = system_account_balance(account=wallet.system_account(name=SystemAccount.REVENUE))
    assert revenue == MEMBERS * PRICE
    assert run_audit().problem_count == 0
