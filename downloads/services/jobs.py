"""Download jobs: reserve the price at start (a hold), charge what was delivered at the end.

States: queued → running → completed | failed, and running → queued when the run's worker died
(job_lease.py: a lease, renewed as songs are packed; the lease sweep in job_sweeps.py queues the
job again once it lapses).

LOCK ORDER, one for every path in downloads (start, complete, fail, sweeps, ads): the job row,
then the member's free allowance, then the wallet (the hold, then its account rows). `job_start`
locks the allowance and then places the hold; completion and failure therefore give free
downloads back *before* capturing or releasing the hold. Taking them the other way round in one
path let a start and a fail for the same member each wait for the other's row (a deadlock,
tests/downloads/test_concurrency.py). The job's run is queued through the outbox
(`Event.DOWNLOAD_JOB_QUEUED`), so a broker that is down at commit delays the run instead of
losing it; every step of a run is idempotent under the job's row lock.
"""

import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from core.events import Event, record
from core.idempotency import fingerprint
from wallet import services as wallet
from wallet.errors import HoldNotPending
from wallet.models import Currency, SystemAccount, TransferKind
from wallet.selectors import balance_for_user, default_currency

from .. import selectors
from ..errors import InvalidItems, InvalidRequest, KeyReused, NotEnoughSongs
from ..models import (
    DownloadJob,
    DownloadJobItem,
    DownloadRecord,
    Item,
    ItemKind,
    JobStatus,
    RecordSource,
    song_price_minor,
)
from .archive import archive_name, build_archive, delete_quietly
from .free_tier import lock_allowance, refund_free
from .job_lease import JobLease, LeaseLost, lease_duration, queued_grace

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobStart:
    """What a start answers, complete: the API builds its answer from this alone (no read after
    commit, which could fail and hide a committed job from its client)."""

    job: DownloadJob
    credits_required: int
    credits_available: int
    currency: Currency

    @property
    def credits_after(self) -> int:
        return self.credits_available - self.credits_required


def _job_items(*, user: User, requested_songs: int, item_ids: list[int] | None) -> list[Item]:
    if item_ids is None:
        songs = selectors.new_songs_for(user=user, limit=requested_songs)
        if len(songs) < requested_songs:
            raise NotEnoughSongs(
                f"Only {len(songs)} songs you have not downloaded yet are in the catalog; "
                f"you asked for {requested_songs}.",
                songs_available=len(songs),
            )
        return songs
    if len(set(item_ids)) != len(item_ids):
        raise InvalidItems(_("item_ids contains the same song more than once."))
    if len(item_ids) != requested_songs:
        raise InvalidItems(
            f"requested_songs is {requested_songs} but item_ids lists {len(item_ids)} songs; they must match."
        )
    found = {
        i.pk: i
        for i in selectors.listed_items()
        .filter(pk__in=item_ids, kind=ItemKind.SONG)
        .filter(selectors.accessible_q(user))
    }
    missing = [i for i in item_ids if i not in found]
    if missing:
        raise InvalidItems(
            "These item_ids are not songs you can download: " + ", ".join(map(str, missing[:20])) + ".",
            invalid_item_ids=missing[:100],
        )
    return [found[i] for i in item_ids]


def _spend_free(*, user_id: int, wanted: int) -> int:
    """Take up to `wanted` free downloads from the user's allowance (inside atomic)."""
    allowance = lock_allowance(user_id)
    free = min(allowance.remaining, wanted)
    if free:
        allowance.remaining -= free
        allowance.used_total += free
        allowance.save(update_fields=["remaining", "used_total", "updated_at"])
    return free


def _hold_for(*, job: DownloadJob, user: User, required: int, now: datetime) -> int:
    """Reserve the paid remainder under the account row lock (two concurrent jobs can never both
    reserve the same credits). Returns what was available before the hold."""
    account = wallet.user_account(user_id=user.pk)  # created on first use, even for a free job
    if not required:
        return balance_for_user(user_id=user.pk).available
    job.hold = wallet.hold_place(
        account=account,
        amount=required,
        kind=TransferKind.DOWNLOAD,
        idempotency_key=f"downloads:job:{job.public_id}:hold",
        memo=f"Download of {job.requested_songs} songs ({job.public_id})",
        cause=job,
        expires_at=now + timedelta(seconds=settings.DOWNLOADS_HOLD_TTL_SECONDS),
    )
    job.save(update_fields=["hold"])
    account.refresh_from_db(fields=["balance", "held"])
    return account.available + required


def _replay(job: DownloadJob, digest: str, currency: Currency) -> JobStart:
    """The start a retried request gets: the job its key made, or a conflict."""
    if job.request_digest != digest:
        raise KeyReused(_("This Idempotency-Key already started a different download."))
    required = job.paid_songs * job.unit_price
    return JobStart(job=job, credits_required=required, credits_available=job.available_at_start, currency=currency)


def job_start(
    *,
    user: User,
    requested_songs: int,
    item_ids: list[int] | None = None,
    use_free_downloads: bool = False,
    idempotency_key: str | None = None,
) -> JobStart:
    """Start a download job: reserve the price now, charge what is delivered at the end.

    Steps: with an idempotency key, return the job an earlier request with it started (before
    choosing songs: "the newest not yet downloaded" may be none by now); validate the count and
    pick the songs; in one durable transaction lock the free allowance (if used) and spend free
    downloads first, create the job (unique per member and key), place a hold for the paid
    remainder (kind download, cause the job, key derived from the job) and record
    Event.DOWNLOAD_JOB_QUEUED, whose handler queues the run.
    Raises InvalidRequest, InvalidItems, NotEnoughSongs, wallet InsufficientFunds (no job, no
    hold), KeyReused (409: the key started a different download).
    """
    digest = fingerprint(requested_songs=requested_songs, item_ids=item_ids, use_free_downloads=use_free_downloads)
    currency = default_currency()
    if idempotency_key is not None:
        earlier = DownloadJob.objects.filter(user=user, idempotency_key=idempotency_key).first()
        if earlier is not None:
            return _replay(earlier, digest, currency)
    max_songs = settings.DOWNLOADS_MAX_SONGS_PER_JOB
    if not 1 <= requested_songs <= max_songs:
        raise InvalidRequest(_("requested_songs must be between 1 and %(max)s.") % {"max": max_songs})
    items = _job_items(user=user, requested_songs=requested_songs, item_ids=item_ids)
    unit_price = song_price_minor()
    now = timezone.now()
    try:
        job, required = _job_create(
            user=user,
            items=items,
            use_free_downloads=use_free_downloads,
            unit_price=unit_price,
            now=now,
            idempotency_key=idempotency_key,
            digest=digest,
        )
    except IntegrityError:
        # A concurrent request with the same key committed first (it held the unique index
        # entry; this one waited and rolled back, hold included): answer with its job.
        winner = DownloadJob.objects.filter(user=user, idempotency_key=idempotency_key).first()
        if idempotency_key is None or winner is None:
            raise
        return _replay(winner, digest, currency)
    logger.info(
        "Job %s: %s songs for user #%s, %s free, %s held",
        job.public_id,
        requested_songs,
        user.pk,
        job.free_songs,
        required,
    )
    return JobStart(job=job, credits_required=required, credits_available=job.available_at_start, currency=currency)


def _job_create(
    *,
    user: User,
    items: list[Item],
    use_free_downloads: bool,
    unit_price: int,
    now: datetime,
    idempotency_key: str | None,
    digest: str,
) -> tuple[DownloadJob, int]:
    """The job, its items and its hold, in one transaction. Returns (job, amount held)."""
    requested_songs = len(items)
    with transaction.atomic(durable=True):
        free = _spend_free(user_id=user.pk, wanted=requested_songs) if use_free_downloads else 0
        job = DownloadJob.objects.create(
            public_id="job_" + secrets.token_urlsafe(12),
            user=user,
            requested_songs=requested_songs,
            free_songs=free,
            unit_price=unit_price,
            # The last moment a run may begin and still end (time limit) before the hold expires.
            deadline_at=now
            + timedelta(seconds=settings.DOWNLOADS_HOLD_TTL_SECONDS)
            - timedelta(seconds=settings.DOWNLOADS_JOB_TIME_LIMIT),
            lease_until=now + queued_grace(),  # queued again if no run has begun by then
            idempotency_key=idempotency_key,
            request_digest=digest,
        )
        DownloadJobItem.objects.bulk_create(
            DownloadJobItem(job=job, item=item, position=n) for n, item in enumerate(items, start=1)
        )
        required = (requested_songs - free) * unit_price
        job.available_at_start = _hold_for(job=job, user=user, required=required, now=now)
        job.save(update_fields=["available_at_start"])
        record(Event.DOWNLOAD_JOB_QUEUED, {"job_id": job.pk})
    return job, required


def _lock_job(job_id: int) -> DownloadJob:
    return DownloadJob.objects.select_for_update(no_key=True).get(pk=job_id)


def _job_begin(job_id: int) -> tuple[DownloadJob, JobLease] | None:
    """queued → running, or take over a running job whose run stopped renewing its lease (its
    worker died). None when there is nothing to do: the job is finished, or another run holds a
    live lease (a duplicate message, a redelivery), or it may not run again (then it is failed)."""
    now = timezone.now()
    with transaction.atomic(durable=True):
        job = _lock_job(job_id)
        if job.is_finished:
            return None
        if job.status == JobStatus.RUNNING and job.lease_until is not None and job.lease_until > now:
            logger.info("Job %s: attempt %s holds it until %s", job.public_id, job.attempts, job.lease_until)
            return None
        exhausted = job.attempts >= settings.DOWNLOADS_JOB_MAX_ATTEMPTS
        too_late = job.deadline_at <= now
        if not (exhausted or too_late):
            job.status = JobStatus.RUNNING
            job.started_at = job.started_at or now
            job.attempts += 1
            job.progress_done = 0
            job.lease_until = now + lease_duration()
            job.save(update_fields=["status", "started_at", "attempts", "progress_done", "lease_until"])
            return job, JobLease(job_id=job.pk, attempt=job.attempts, total=job.requested_songs)
    job_fail(job_id=job_id, reason=GIVEN_UP if exhausted else TOO_LATE)
    return None


GIVEN_UP = "The download could not be finished; nothing was charged."
TOO_LATE = "The download did not finish in time; nothing was charged."


def charge_for(*, delivered: int, free_songs: int, unit_price: int) -> tuple[int, int]:
    """(free downloads used, amount to capture): free downloads cover the first songs."""
    free_used = min(delivered, free_songs)
    return free_used, (delivered - free_used) * unit_price


def _record_deliveries(*, job: DownloadJob, item_ids: list[int], free_used: int) -> None:
    """One download record per delivered song; free downloads cover the first ones."""
    DownloadRecord.objects.bulk_create(
        DownloadRecord(
            user_id=job.user_id,
            item_id=item_id,
            source=RecordSource.JOB,
            job=job,
            charged=0 if n < free_used else job.unit_price,
            free_tier=n < free_used,
        )
        for n, item_id in enumerate(item_ids)
    )


def _job_complete(lease: JobLease, delivered_ids: list[int], size: int, name: str) -> DownloadJob:
    """Records, capture and `completed`, all in one transaction under the job lock.

    If the worker dies anywhere in here nothing is committed and the retry does it again; if
    it dies after commit the retry finds the job completed. Only the job's latest run completes
    it (LeaseLost otherwise: a newer run took over). The capture is keyed by the hold
    (`hold:<id>:capture`), so even a capture that somehow committed alone is returned, not
    repeated. Raises HoldNotPending when the hold expired or was released meanwhile.
    """
    with transaction.atomic(durable=True):
        job = _lock_job(lease.job_id)
        if job.is_finished:
            return job
        if job.attempts != lease.attempt:
            raise LeaseLost(f"job #{job.pk}: attempt {lease.attempt} superseded by attempt {job.attempts}")
        delivered = len(delivered_ids)
        free_used, amount = charge_for(delivered=delivered, free_songs=job.free_songs, unit_price=job.unit_price)
        _record_deliveries(job=job, item_ids=delivered_ids, free_used=free_used)
        unused_free = job.free_songs - free_used
        if unused_free:  # LOCK ORDER: the allowance before the hold and its account (see above)
            refund_free(job.user_id, unused_free)
        if job.hold_id:
            wallet.hold_capture(
                hold_id=job.hold_id, amount=amount, to_account=wallet.system_account(name=SystemAccount.REVENUE)
            )
        job.status = JobStatus.COMPLETED
        job.delivered_songs = delivered
        job.credits_charged = amount
        job.progress_done = job.requested_songs
        job.archive_name = name
        job.archive_size = size
        job.finished_at = timezone.now()
        job.lease_until = None
        job.save(
            update_fields=[
                "status",
                "lease_until",
                "delivered_songs",
                "credits_charged",
                "progress_done",
                "archive_name",
                "archive_size",
                "finished_at",
            ]
        )
    logger.info("Job %s: completed, %s of %s songs, charged %s", job.public_id, delivered, job.requested_songs, amount)
    return job


def job_fail(*, job_id: int, reason: str) -> DownloadJob:
    """Fail an unfinished job: release its hold, give back its free downloads. Idempotent."""
    with transaction.atomic(durable=True):
        job = _lock_job(job_id)
        if job.is_finished:
            return job
        if job.free_songs:  # LOCK ORDER: the allowance before the hold and its account (see above)
            refund_free(job.user_id, job.free_songs)
        if job.hold_id:
            wallet.hold_release(hold_id=job.hold_id)  # no-op when the hold already expired
        job.status = JobStatus.FAILED
        job.error = reason[:255]
        job.finished_at = timezone.now()
        job.lease_until = None
        job.save(update_fields=["status", "error", "finished_at", "lease_until"])
        name = archive_name(job)
        # Local cleanup of a partial archive: losing it to a crash only leaves a file behind.
        transaction.on_commit(lambda: delete_quietly(name))
    logger.info("Job %s: failed (%s), hold released", job.public_id, reason)
    return job


def job_run(*, job_id: int) -> DownloadJob | None:
    """The task body: begin, build the archive, complete. Safe to run again at any point; a
    finished job, or one another run holds, is left alone (None), so a second delivery charges
    nothing. On an error the lease is released, so Celery's retry can begin at once."""
    begun = _job_begin(job_id)
    if begun is None:
        return None
    job, lease = begun
    try:
        delivered, size = build_archive(job, progress=lease.progress)
        return _job_complete(lease, delivered, size, archive_name(job))
    except LeaseLost:
        logger.warning("Job %s: attempt %s was taken over by a newer run; it stops", job.public_id, lease.attempt)
        return None
    except HoldNotPending:
        return job_fail(job_id=job.pk, reason="The credit reservation expired before the download finished.")
    except BaseException:
        lease.release()
        raise
