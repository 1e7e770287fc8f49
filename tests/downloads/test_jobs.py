import io
import zipfile
from datetime import timedelta
from decimal import Decimal
from unittest import mock

import pytest
from django.db import OperationalError
from django.utils import timezone

from downloads import selectors, services
from downloads.models import DownloadJob, DownloadRecord, JobStatus, song_price_minor
from tests.factories import UserFactory, fund, make_item, make_songs
from wallet import services as wallet
from wallet.models import Hold, HoldStatus, SystemAccount, Transfer, TransferKind
from wallet.selectors import balance_for_user, system_account_balance

pytestmark = pytest.mark.django_db


def revenue() -> int:
    return system_account_balance(account=wallet.system_account(name=SystemAccount.REVENUE))


def start(api, user, capture, **body):
    with capture(execute=True):
        return api(user).post("/api/start-download", body)


def test_song_price_is_exactly_035():
    assert song_price_minor() == 35
    assert make_item().price == 35


def test_start_download_202_shape_then_charges_exactly_035_per_song(api, django_capture_on_commit_callbacks):
    user = UserFactory()
    fund(user, "45.50")
    songs = make_songs(50)
    with django_capture_on_commit_callbacks() as callbacks:
        resp = api(user).post("/api/start-download", {"requested_songs": 50})
    assert resp.status_code == 202, resp.content
    body = resp.json()
    assert body["job_id"].startswith("job_") and len(body["job_id"]) > 10
    assert body == {
        "job_id": body["job_id"],
        "max_songs": 50,
        "credits_required": 17.50,
        "credits_available": 45.50,
        "credits_after": 28.00,
        "free_downloads_used": 0,
        "message": "Download started. Credits will be deducted upon completion.",
    }
    assert b'"credits_required": 17.50' in resp.content  # Decimal digits, not a float
    job = DownloadJob.objects.get(public_id=body["job_id"])
    assert job.status == JobStatus.QUEUED
    bal = balance_for_user(user_id=user.pk)
    assert (bal.balance, bal.held) == (4550, 1750)
    assert job.hold.kind == TransferKind.DOWNLOAD and job.hold.cause == job

    for cb in callbacks:
        cb()  # the task runs (eager) after commit
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED
    assert (job.delivered_songs, job.credits_charged) == (50, 1750)
    bal = balance_for_user(user_id=user.pk)
    assert (bal.balance_decimal, bal.held) == (Decimal("28.00"), 0)
    assert revenue() == 1750
    capture = Transfer.objects.get(hold=job.hold)
    assert capture.cause == job and capture.amount == 1750
    assert job.history_fields(capture) == {"songs_downloaded": 50}
    assert selectors.total_songs_downloaded(user_id=user.pk) == 50

    status = api(user).get(f"/api/download-jobs/{job.public_id}").json()
    assert status["status"] == "completed"
    assert status["progress"] == {"done": 50, "total": 50}
    assert status["credits_charged"] == 17.50
    archive = api(user).get(status["download_url"].replace("http://testserver", ""))
    assert archive.status_code == 200
    names = zipfile.ZipFile(io.BytesIO(b"".join(archive.streaming_content))).namelist()
    assert len(names) == 50 and {s.title.replace(" ", "_") for s in songs} == {
        n.split(" - ", 1)[1].rsplit(".", 1)[0] for n in names
    }


def test_insufficient_credits_402_exact_seed_shape_no_job_no_hold(api):
    user = UserFactory()
    fund(user, "10.00")
    make_songs(50)
    resp = api(user).post("/api/start-download", {"requested_songs": 50})
    assert resp.status_code == 402
    assert resp.json() == {
        "error": "Insufficient credits",
        "credits_required": 17.50,
        "credits_available": 10.00,
        "credits_needed": 7.50,
        "message": "You need 7.50 more credits to download 50 songs. Please purchase more credits.",
    }
    assert not DownloadJob.objects.exists() and not Hold.objects.exists()
    assert balance_for_user(user_id=user.pk).held == 0


def test_available_not_balance_counts(api, django_capture_on_commit_callbacks):
    user = UserFactory()
    fund(user, "1.00")
    make_songs(3)
    wallet.hold_place(account=wallet.user_account(user_id=user.pk), amount=50, kind="download", idempotency_key="x")
    resp = api(user).post("/api/start-download", {"requested_songs": 2})
    assert resp.status_code == 402 and resp.json()["credits_available"] == 0.50


@pytest.mark.parametrize(
    "body, code",
    [
        ({"requested_songs": 0}, "invalid_request"),
        ({"requested_songs": 201}, "invalid_request"),
        ({"requested_songs": -3}, "invalid_request"),
        ({"requested_songs": "many"}, "invalid_request"),
        ({}, "invalid_request"),
        ({"requested_songs": 2, "item_ids": [1]}, "invalid_items"),
        ({"requested_songs": 2, "item_ids": [1, 1]}, "invalid_items"),
        ({"requested_songs": 1, "item_ids": [999999]}, "invalid_items"),
        ({"requested_songs": 1, "item_ids": [2**70]}, "invalid_request"),
        ({"requested_songs": 50}, "not_enough_songs"),
    ],
)
def test_start_download_validation_400(api, body, code):
    user = UserFactory()
    fund(user, "100")
    make_songs(3)
    resp = api(user).post("/api/start-download", body)
    assert resp.status_code == 400, resp.content
    assert resp.json()["error"] == code and resp.json()["message"]
    assert not Hold.objects.exists()


def test_item_ids_must_be_active_accessible_songs(api):
    from django.contrib.auth.models import Group

    user = UserFactory()
    fund(user, "100")
    song, inactive, ea = make_item(), make_item(is_active=False), make_item(kind="ea", verification="verified")
    members = make_item(access_group=Group.objects.create(name="VIP"))
    for bad in (inactive, ea, members):
        resp = api(user).post("/api/start-download", {"requested_songs": 2, "item_ids": [song.pk, bad.pk]})
        assert resp.status_code == 400 and resp.json()["invalid_item_ids"] == [bad.pk]
    user.groups.add(members.access_group)
    resp = api(user).post("/api/start-download", {"requested_songs": 2, "item_ids": [song.pk, members.pk]})
    assert resp.status_code == 202


def test_without_item_ids_takes_newest_songs_not_downloaded_before(api, django_capture_on_commit_callbacks):
    user = UserFactory()
    fund(user, "100")
    songs = make_songs(5)
    first = start(api, user, django_capture_on_commit_callbacks, requested_songs=2).json()
    job = DownloadJob.objects.get(public_id=first["job_id"])
    assert [ji.item for ji in job.job_items.all()] == [songs[4], songs[3]]
    second = DownloadJob.objects.get(
        public_id=start(api, user, django_capture_on_commit_callbacks, requested_songs=3).json()["job_id"]
    )
    assert [ji.item for ji in second.job_items.all()] == [songs[2], songs[1], songs[0]]
    assert api(user).post("/api/start-download", {"requested_songs": 1}).json()["error"] == "not_enough_songs"


def test_token_required_and_jobs_are_owner_only(api, client, django_capture_on_commit_callbacks):
    owner, other = UserFactory(), UserFactory()
    fund(owner, "5")
    make_songs(1)
    assert (
        client.post("/api/start-download", {"requested_songs": 1}, content_type="application/json").status_code == 401
    )
    job_id = start(api, owner, django_capture_on_commit_callbacks, requested_songs=1).json()["job_id"]
    assert api(owner).get(f"/api/download-jobs/{job_id}").status_code == 200
    resp = api(other).get(f"/api/download-jobs/{job_id}")
    assert resp.status_code == 404 and resp.json()["error"] == "job_not_found"
    assert api(owner).get("/api/download-jobs/job_nope").status_code == 404


def test_session_token_in_body_works(client, django_capture_on_commit_callbacks):
    from accounts.services import api_session_create

    user = UserFactory()
    fund(user, "5")
    make_songs(1)
    _, token = api_session_create(user=user, ip=None, user_agent="t")
    resp = client.post(
        "/api/start-download", {"session_token": token, "requested_songs": 1}, content_type="application/json"
    )
    assert resp.status_code == 202


def test_missing_files_are_not_charged_and_the_rest_is_released(api, django_capture_on_commit_callbacks):
    user = UserFactory()
    fund(user, "5")
    songs = make_songs(4)
    songs[1].file.storage.delete(songs[1].file.name)
    body = start(api, user, django_capture_on_commit_callbacks, requested_songs=4).json()
    job = DownloadJob.objects.get(public_id=body["job_id"])
    assert (job.status, job.delivered_songs, job.credits_charged) == (JobStatus.COMPLETED, 3, 105)
    bal = balance_for_user(user_id=user.pk)
    assert (bal.balance, bal.held) == (500 - 105, 0)
    assert job.hold.status == HoldStatus.CAPTURED and job.hold.captured_amount == 105
    assert DownloadRecord.objects.filter(job=job).count() == 3


def test_a_second_run_of_a_finished_job_does_nothing_and_charges_nothing(api, django_capture_on_commit_callbacks):
    from downloads.tasks import run_download_job

    user = UserFactory()
    fund(user, "5")
    make_songs(3)
    body = start(api, user, django_capture_on_commit_callbacks, requested_songs=3).json()
    job = DownloadJob.objects.get(public_id=body["job_id"])
    assert (job.status, job.credits_charged, job.attempts) == (JobStatus.COMPLETED, 105, 1)

    assert services.job_run(job_id=job.pk) is None
    run_download_job.apply(args=[job.pk])  # a duplicate message, as a re-delivered event would queue
    job.refresh_from_db()
    assert (job.status, job.credits_charged, job.attempts) == (JobStatus.COMPLETED, 105, 1)
    assert Transfer.objects.filter(hold=job.hold).count() == 1
    assert balance_for_user(user_id=user.pk).balance == 500 - 105 and revenue() == 105
    assert DownloadRecord.objects.filter(job=job).count() == 3


def test_broker_down_at_commit_the_job_commits_and_the_sweep_runs_it_once(
    api, monkeypatch, django_capture_on_commit_callbacks
):
    """The after-commit message cannot be queued: the job and its hold are committed anyway, and
    the outbox sweep queues the run when the broker is back; delivering again charges nothing."""
    from core import outbox, tasks
    from core.events import Delivered, Event
    from core.models import OutboxEvent
    from downloads import handlers

    user = UserFactory()
    fund(user, "5")
    make_songs(3)

    def broker_down(*args, **kwargs):
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    with monkeypatch.context() as patched:
        patched.setattr(tasks.outbox_deliver, "apply_async", broker_down)
        resp = start(api, user, django_capture_on_commit_callbacks, requested_songs=3)
    assert resp.status_code == 202
    job = DownloadJob.objects.get(public_id=resp.json()["job_id"])
    event = OutboxEvent.objects.get(name=Event.DOWNLOAD_JOB_QUEUED)
    assert event.payload == {"job_id": job.pk} and event.delivered_at is None
    assert job.status == JobStatus.QUEUED and balance_for_user(user_id=user.pk).held == 105

    assert outbox.sweep() == 1  # the broker is back
    job.refresh_from_db()
    assert (job.status, job.credits_charged) == (JobStatus.COMPLETED, 105)
    assert outbox.sweep() == 0
    handlers.queue_job_run(Delivered(event_id=event.pk, name=Event.DOWNLOAD_JOB_QUEUED, payload=event.payload))
    bal = balance_for_user(user_id=user.pk)
    assert (bal.balance, bal.held, revenue()) == (500 - 105, 0, 105)
    assert Transfer.objects.filter(hold=job.hold).count() == 1


def _queued_job(user, n=3):
    make_songs(n)
    return services.job_start(user=user, requested_songs=n).job


def test_crash_after_capture_rolls_back_and_retry_charges_once():
    user = UserFactory()
    fund(user, "5")
    job = _queued_job(user)
    real_capture = wallet.hold_capture

    def capture_then_die(**kwargs):
        real_capture(**kwargs)
        raise RuntimeError("worker killed right after the capture")

    with mock.patch("downloads.services.jobs.wallet.hold_capture", side_effect=capture_then_die):
        with pytest.raises(RuntimeError):
            services.job_run(job_id=job.pk)
    services.job_run(job_id=job.pk)  # the retry
    services.job_run(job_id=job.pk)  # and a duplicate delivery of the task
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED and job.attempts == 2
    assert Transfer.objects.filter(hold=job.hold).count() == 1
    assert balance_for_user(user_id=user.pk).balance == 500 - 105
    assert revenue() == 105
    assert DownloadRecord.objects.filter(job=job).count() == 3


def test_capture_committed_before_completion_is_not_repeated():
    """Even if a capture had committed on its own, the retry returns it instead of charging again."""
    user = UserFactory()
    fund(user, "5")
    job = _queued_job(user)
    wallet.hold_capture(hold_id=job.hold_id, amount=105, to_account=wallet.system_account(name=SystemAccount.REVENUE))
    services.job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED and job.credits_charged == 105
    assert Transfer.objects.filter(hold=job.hold).count() == 1
    assert balance_for_user(user_id=user.pk).balance == 395


def test_task_retries_transient_error_after_capture_without_double_charge():
    from downloads.tasks import run_download_job

    user = UserFactory()
    fund(user, "5")
    job = _queued_job(user)
    real_capture = wallet.hold_capture
    calls = []

    def flaky(**kwargs):
        result = real_capture(**kwargs)
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("connection lost after capture")
        return result

    with mock.patch("downloads.services.jobs.wallet.hold_capture", side_effect=flaky):
        # throw=False: eager apply() then runs the retry inline, as a worker would later.
        run_download_job.apply(args=[job.pk], throw=False)
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED and len(calls) == 2
    assert Transfer.objects.filter(hold=job.hold).count() == 1
    assert balance_for_user(user_id=user.pk).balance == 395


def test_unexpected_error_fails_the_job_and_releases_everything():
    from downloads.tasks import run_download_job

    user = UserFactory()
    fund(user, "5")
    job = _queued_job(user)
    with mock.patch("downloads.services.jobs.build_archive", side_effect=ValueError("bug")):
        result = run_download_job.apply(args=[job.pk], throw=False)
    assert isinstance(result.result, ValueError)  # still reported to Celery (and logged)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.credits_charged == 0
    assert job.hold.status == HoldStatus.RELEASED
    bal = balance_for_user(user_id=user.pk)
    assert (bal.balance, bal.held) == (500, 0)


def test_stale_jobs_are_failed_and_released():
    user = UserFactory()
    fund(user, "5")
    job = _queued_job(user, 2)
    assert services.jobs_fail_stale() == 0
    assert services.jobs_fail_stale(now=timezone.now() + timedelta(hours=1)) == 1
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.hold.status == HoldStatus.RELEASED
    assert balance_for_user(user_id=user.pk).held == 0
    services.job_run(job_id=job.pk)  # a late task does nothing
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and not DownloadRecord.objects.exists()


def test_job_whose_hold_expired_fails_instead_of_charging():
    user = UserFactory()
    fund(user, "5")
    job = _queued_job(user, 2)
    assert wallet.holds_expire(now=timezone.now() + timedelta(days=1)) == 1
    services.job_run(job_id=job.pk)
    job.refresh_from_db()
    assert job.status == JobStatus.FAILED and job.credits_charged == 0
    assert balance_for_user(user_id=user.pk).balance == 500
    assert services.jobs_fail_stale() == 0


def test_hold_outlives_job_time_limit_check(settings):
    from downloads.checks import hold_outlives_job

    assert hold_outlives_job(None) == []
    settings.DOWNLOADS_HOLD_TTL_SECONDS = settings.DOWNLOADS_JOB_TIME_LIMIT
    assert hold_outlives_job(None)[0].id == "downloads.E001"
