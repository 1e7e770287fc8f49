"""Writes for downloads: jobs (hold → capture), single-item purchases, the free tier, EA review.

Balances move only through `wallet.services`. The top-level money operations here open
`transaction.atomic(durable=True)` around their own rows and the wallet calls. Lock order, as
everywhere: our domain row (job, free allowance) first, then the hold, then accounts.
"""

import hashlib
import logging
import secrets
import shutil
import tempfile
import uuid
import zipfile
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import PurePosixPath

from django.conf import settings
from django.core.files import File
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import get_valid_filename, slugify

from accounts.models import User
from wallet import services as wallet
from wallet.errors import HoldNotPending
from wallet.models import HoldStatus, SystemAccount, TransferKind
from wallet.selectors import balance_for_user, default_currency

from . import ads, selectors
from .errors import (
    AdDailyLimit,
    AdsDisabled,
    AdTokenExpired,
    AdTokenInvalid,
    AdTokenUsed,
    InvalidItems,
    InvalidRequest,
    ItemForbidden,
    ItemUnavailable,
    NotEnoughSongs,
    VerificationError,
)
from .models import (
    AdCompletion,
    DownloadJob,
    DownloadJobItem,
    DownloadRecord,
    FreeAllowance,
    Item,
    ItemKind,
    JobStatus,
    PricingMode,
    RecordSource,
    Unlock,
    Verification,
    item_storage,
    song_price_minor,
)

logger = logging.getLogger(__name__)

ARCHIVE_SPOOL_BYTES = 32 * 1024 * 1024
AD_CLOCK_SKEW = 60


# --- catalog --------------------------------------------------------------------------------


def file_digest(fileobj: File) -> tuple[int, str]:
    sha, size = hashlib.sha256(), 0
    fileobj.seek(0)
    for chunk in fileobj.chunks():
        sha.update(chunk)
        size += len(chunk)
    fileobj.seek(0)
    return size, sha.hexdigest()


def unique_slug(title: str) -> str:
    return f"{slugify(title)[:100] or 'item'}-{secrets.token_hex(4)}"


def item_create(
    *,
    title: str,
    kind: str,
    file: File,
    slug: str | None = None,
    price: int | None = None,
    pricing_mode: str = PricingMode.METERED,
    uploader: User | None = None,
    **fields: object,
) -> Item:
    """Add an item with its file; size and SHA-256 are computed from the file itself."""
    size, sha = file_digest(file)
    item = Item(
        slug=slug or unique_slug(title),
        title=title,
        kind=kind,
        size=size,
        sha256=sha,
        price=song_price_minor() if price is None else price,
        pricing_mode=pricing_mode,
        uploader=uploader,
        **fields,
    )
    item.file.save(PurePosixPath(file.name or "file").name, file, save=False)
    item.save()
    return item


def ea_submit(
    *,
    uploader: User,
    title: str,
    description: str,
    file: File,
    report_file: File | None,
    price: Decimal,
    pricing_mode: str,
    platform: str,
    symbol: str,
    timeframe: str,
    backtest_start: date,
    backtest_end: date,
    profit_factor: Decimal,
    max_drawdown_pct: Decimal,
) -> Item:
    """A member uploads an EA; it stays out of the catalog until staff verify it."""
    item = item_create(
        title=title,
        kind=ItemKind.EA,
        file=file,
        price=default_currency().to_minor(price),
        pricing_mode=pricing_mode,
        uploader=uploader,
        description=description,
        platform=platform,
        symbol=symbol.upper(),
        timeframe=timeframe,
        backtest_start=backtest_start,
        backtest_end=backtest_end,
        profit_factor=profit_factor,
        max_drawdown_pct=max_drawdown_pct,
        verification=Verification.PENDING,
    )
    if report_file is not None:
        item.report_file.save(PurePosixPath(report_file.name or "report").name, report_file, save=False)
        item.save(update_fields=["report_file"])
    logger.info("Item #%s: EA submitted by user #%s for review", item.pk, uploader.pk)
    return item


def _ea_decide(*, item_id: int, staff_id: int, status: str, note: str) -> Item:
    with transaction.atomic(durable=True):
        item = Item.objects.select_for_update(no_key=True).filter(pk=item_id, kind=ItemKind.EA).first()
        if item is None:
            raise VerificationError(f"Item #{item_id} is not an EA.")
        if item.verification == status:
            return item  # idempotent: deciding the same way twice changes nothing, notifies once
        was_verified = item.verification == Verification.VERIFIED
        item.verification = status
        item.verified_at = timezone.now()
        item.verified_by_id = staff_id
        item.verification_note = note[:255]
        item.save(update_fields=["verification", "verified_at", "verified_by", "verification_note", "updated_at"])
        if item.uploader_id:
            _ea_reward_event(item=item, verified=status == Verification.VERIFIED, was_verified=was_verified)
            from .tasks import notify_ea_decision

            transaction.on_commit(lambda: notify_ea_decision.delay(item.pk))
    logger.info("Item #%s: EA %s by staff #%s", item.pk, status, staff_id)
    return item


def _ea_reward_event(*, item: Item, verified: bool, was_verified: bool) -> None:
    """Tell the rewards program, in the same transaction as the decision: a verified EA earns
    its uploader the `ea.verified` award; withdrawing a verified EA counts as deleting the
    content, which claws the award back. Fixed event ids make both happen at most once."""
    from rewards import services as rewards

    if verified:
        event_id, event_type = f"ea-verified:{item.pk}", "ea.verified"
    elif was_verified:
        event_id, event_type = f"ea-withdrawn:{item.pk}", "post.deleted"
    else:
        return
    rewards.activity_record(
        source="goldbook",
        event_id=event_id,
        type=event_type,
        user_id=item.uploader_id,
        object_type="ea",
        object_id=str(item.pk),
    )


def ea_verify(*, item_id: int, staff_id: int, note: str = "") -> Item:
    """Staff mark an EA verified: it enters the catalog and the uploader is told by email.

    Idempotent (verifying a verified EA returns it unchanged). Raises VerificationError when the
    item is not an EA. The uploader earns the verified-EA award (rewards) in the same transaction.
    """
    return _ea_decide(item_id=item_id, staff_id=staff_id, status=Verification.VERIFIED, note=note)


def ea_reject(*, item_id: int, staff_id: int, note: str = "") -> Item:
    """Staff reject an EA (or withdraw a verified one): it leaves the catalog; uploader emailed."""
    return _ea_decide(item_id=item_id, staff_id=staff_id, status=Verification.REJECTED, note=note)


# --- free tier ------------------------------------------------------------------------------


def _lock_allowance(user_id: int) -> FreeAllowance:
    """The user's allowance row, created on first use, locked (callers are inside atomic)."""
    FreeAllowance.objects.get_or_create(user_id=user_id, defaults={"remaining": settings.DOWNLOADS_FREE_PER_ACCOUNT})
    return FreeAllowance.objects.select_for_update(no_key=True).get(user_id=user_id)


def ad_complete(*, user: User, token: str, now: datetime | None = None) -> FreeAllowance:
    """Redeem an ad-completion token for one more free download.

    Steps: verify the HMAC and shape; check the token names this user and is fresh; under the
    allowance row lock, refuse a used nonce or a sixth grant today; record the nonce, add one.
    Raises AdsDisabled, AdTokenInvalid, AdTokenExpired, AdTokenUsed, AdDailyLimit.
    """
    secret = settings.ADS_HMAC_SECRET
    if not secret:
        raise AdsDisabled("Ads are not available on this site.")
    try:
        claims = ads.decode(token=token, secret=secret)
    except ads.MalformedToken as exc:
        raise AdTokenInvalid(str(exc)) from None
    if not secrets.compare_digest(claims.user_ref, selectors.ad_user_ref(user_id=user.pk)):
        raise AdTokenInvalid("The ad token was issued for another account.")
    now = now or timezone.now()
    age = now.timestamp() - claims.issued_at
    if age > settings.DOWNLOADS_AD_TOKEN_MAX_AGE or age < -AD_CLOCK_SKEW:
        raise AdTokenExpired("The ad token has expired. Watch another ad for a new one.")
    try:
        with transaction.atomic(durable=True):
            allowance = _lock_allowance(user.pk)
            if AdCompletion.objects.filter(nonce=claims.nonce).exists():
                raise AdTokenUsed("This ad token was already redeemed.")
            day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
            if (
                AdCompletion.objects.filter(user_id=user.pk, created_at__gte=day_start).count()
                >= settings.DOWNLOADS_AD_GRANTS_PER_DAY
            ):
                raise AdDailyLimit(
                    f"You have already earned {settings.DOWNLOADS_AD_GRANTS_PER_DAY} free downloads from ads today. "
                    "Come back tomorrow.",
                )
            AdCompletion.objects.create(
                nonce=claims.nonce,
                user_id=user.pk,
                issued_at=datetime.fromtimestamp(claims.issued_at, tz=timezone.get_current_timezone()),
            )
            allowance.remaining += 1
            allowance.granted_by_ads += 1
            allowance.save(update_fields=["remaining", "granted_by_ads", "updated_at"])
    except IntegrityError:
        # The same nonce redeemed at the same moment from another account's lock scope.
        raise AdTokenUsed("This ad token was already redeemed.") from None
    logger.info("User #%s: free download granted for an ad (%s left)", user.pk, allowance.remaining)
    return allowance


# --- download jobs --------------------------------------------------------------------------


@dataclass(frozen=True)
class JobStart:
    job: DownloadJob
    credits_required: int
    credits_available: int

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
        raise InvalidItems("item_ids contains the same song more than once.")
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


def job_start(
    *, user: User, requested_songs: int, item_ids: list[int] | None = None, use_free_downloads: bool = False
) -> JobStart:
    """Start a download job: reserve the price now, charge what is delivered at the end.

    Steps: validate the count and pick the songs; in one durable transaction lock the free
    allowance (if used) and spend free downloads first, create the job, and place a hold for
    the paid remainder (kind download, cause the job, key derived from the job). The hold is
    placed under the account row lock, so two concurrent jobs can never both reserve the same
    credits. The task is queued after commit.
    Raises InvalidRequest, InvalidItems, NotEnoughSongs, wallet InsufficientFunds (no job, no hold).
    """
    max_songs = settings.DOWNLOADS_MAX_SONGS_PER_JOB
    if not 1 <= requested_songs <= max_songs:
        raise InvalidRequest(f"requested_songs must be between 1 and {max_songs}.")
    items = _job_items(user=user, requested_songs=requested_songs, item_ids=item_ids)
    unit_price = song_price_minor()
    now = timezone.now()
    with transaction.atomic(durable=True):
        free = 0
        if use_free_downloads:
            allowance = _lock_allowance(user.pk)
            free = min(allowance.remaining, requested_songs)
            if free:
                allowance.remaining -= free
                allowance.used_total += free
                allowance.save(update_fields=["remaining", "used_total", "updated_at"])
        job = DownloadJob.objects.create(
            public_id="job_" + secrets.token_urlsafe(12),
            user=user,
            requested_songs=requested_songs,
            free_songs=free,
            unit_price=unit_price,
            deadline_at=now + timedelta(seconds=settings.DOWNLOADS_JOB_TIME_LIMIT),
        )
        DownloadJobItem.objects.bulk_create(
            DownloadJobItem(job=job, item=item, position=n) for n, item in enumerate(items, start=1)
        )
        required = (requested_songs - free) * unit_price
        account = wallet.user_account(user_id=user.pk)
        if required:
            hold = wallet.hold_place(
                account=account,
                amount=required,
                kind=TransferKind.DOWNLOAD,
                idempotency_key=f"downloads:job:{job.public_id}:hold",
                memo=f"Download of {requested_songs} songs ({job.public_id})",
                cause=job,
                expires_at=now + timedelta(seconds=settings.DOWNLOADS_HOLD_TTL_SECONDS),
            )
            job.hold = hold
            job.save(update_fields=["hold"])
            account.refresh_from_db(fields=["balance", "held"])
            available_before = account.available + required
        else:
            available_before = balance_for_user(user_id=user.pk).available
        from .tasks import run_download_job

        transaction.on_commit(lambda: run_download_job.delay(job.pk))
    logger.info(
        "Job %s: %s songs for user #%s, %s free, %s held", job.public_id, requested_songs, user.pk, free, required
    )
    return JobStart(job=job, credits_required=required, credits_available=available_before)


def _lock_job(job_id: int) -> DownloadJob:
    return DownloadJob.objects.select_for_update(no_key=True).get(pk=job_id)


def _job_begin(job_id: int) -> DownloadJob | None:
    """queued → running (or resume a running job after a worker died). None if nothing to do."""
    with transaction.atomic(durable=True):
        job = _lock_job(job_id)
        if job.is_finished:
            return None
        job.status = JobStatus.RUNNING
        job.started_at = job.started_at or timezone.now()
        job.attempts += 1
        job.progress_done = 0
        job.save(update_fields=["status", "started_at", "attempts", "progress_done"])
    return job


def archive_name(job: DownloadJob) -> str:
    return f"downloads/archives/{job.public_id}.zip"


def _build_archive(job: DownloadJob) -> tuple[list[int], int]:
    """Zip the job's files into private storage; returns the delivered item ids and the size.

    Rebuilt from scratch on every attempt (same name), so a retry after a crash is harmless.
    Items whose file is gone are skipped, and not charged.
    """
    storage = item_storage()
    entries = list(job.job_items.select_related("item").order_by("position"))
    total = len(entries)
    step = max(1, total // 20)
    delivered: list[int] = []
    with tempfile.SpooledTemporaryFile(max_size=ARCHIVE_SPOOL_BYTES) as tmp:
        # Stored, not deflated: audio and EA binaries are already compressed.
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
            for n, entry in enumerate(entries, start=1):
                item = entry.item
                suffix = PurePosixPath(item.file.name).suffix
                arcname = f"{entry.position:03d} - {get_valid_filename(item.title)[:80]}{suffix}"
                try:
                    with storage.open(item.file.name, "rb") as src, archive.open(arcname, "w") as dst:
                        shutil.copyfileobj(src, dst, 1024 * 1024)
                    delivered.append(item.pk)
                except (FileNotFoundError, OSError, ValueError):
                    logger.warning("Job %s: item #%s has no readable file, skipped", job.public_id, item.pk)
                if n % step == 0 or n == total:
                    DownloadJob.objects.filter(pk=job.pk, status=JobStatus.RUNNING).update(progress_done=n)
        size = tmp.tell()
        tmp.seek(0)
        name = archive_name(job)
        if storage.exists(name):
            storage.delete(name)
        saved = storage.save(name, File(tmp, name=name))
        if saved != name:  # a concurrent attempt wrote the same name first; keep ours under its name
            logger.warning("Job %s: archive saved as %s", job.public_id, saved)
    return delivered, size


def charge_for(*, delivered: int, free_songs: int, unit_price: int) -> tuple[int, int]:
    """(free downloads used, amount to capture): free downloads cover the first songs."""
    free_used = min(delivered, free_songs)
    return free_used, (delivered - free_used) * unit_price


def _job_complete(job_id: int, delivered_ids: list[int], size: int, name: str) -> DownloadJob:
    """Records, capture and `completed`, all in one transaction under the job lock.

    If the worker dies anywhere in here nothing is committed and the retry does it again; if
    it dies after commit the retry finds the job completed. The capture is keyed by the hold
    (`hold:<id>:capture`), so even a capture that somehow committed alone is returned, not
    repeated. Raises HoldNotPending when the hold expired or was released meanwhile.
    """
    with transaction.atomic(durable=True):
        job = _lock_job(job_id)
        if job.is_finished:
            return job
        delivered = len(delivered_ids)
        free_used, amount = charge_for(delivered=delivered, free_songs=job.free_songs, unit_price=job.unit_price)
        DownloadRecord.objects.bulk_create(
            DownloadRecord(
                user_id=job.user_id,
                item_id=item_id,
                source=RecordSource.JOB,
                job=job,
                charged=0 if n < free_used else job.unit_price,
                free_tier=n < free_used,
            )
            for n, item_id in enumerate(delivered_ids)
        )
        if job.hold_id:
            wallet.hold_capture(
                hold_id=job.hold_id, amount=amount, to_account=wallet.system_account(name=SystemAccount.REVENUE)
            )
        unused_free = job.free_songs - free_used
        if unused_free:
            _refund_free(job.user_id, unused_free)
        job.status = JobStatus.COMPLETED
        job.delivered_songs = delivered
        job.credits_charged = amount
        job.progress_done = job.requested_songs
        job.archive_name = name
        job.archive_size = size
        job.finished_at = timezone.now()
        job.save(
            update_fields=[
                "status",
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


def _refund_free(user_id: int, count: int) -> None:
    allowance = _lock_allowance(user_id)
    allowance.remaining += count
    allowance.used_total = max(0, allowance.used_total - count)
    allowance.save(update_fields=["remaining", "used_total", "updated_at"])


def job_fail(*, job_id: int, reason: str) -> DownloadJob:
    """Fail an unfinished job: release its hold, give back its free downloads. Idempotent."""
    with transaction.atomic(durable=True):
        job = _lock_job(job_id)
        if job.is_finished:
            return job
        if job.hold_id:
            wallet.hold_release(hold_id=job.hold_id)  # no-op when the hold already expired
        if job.free_songs:
            _refund_free(job.user_id, job.free_songs)
        job.status = JobStatus.FAILED
        job.error = reason[:255]
        job.finished_at = timezone.now()
        job.save(update_fields=["status", "error", "finished_at"])
        name = archive_name(job)
        transaction.on_commit(lambda: _delete_quietly(name))
    logger.info("Job %s: failed (%s), hold released", job.public_id, reason)
    return job


def _delete_quietly(name: str) -> None:
    try:
        item_storage().delete(name)
    except OSError:
        logger.warning("Archive %s could not be deleted", name)


def job_run(*, job_id: int) -> DownloadJob | None:
    """The task body: begin, build the archive, complete. Safe to run again at any point."""
    job = _job_begin(job_id)
    if job is None:
        return None
    delivered, size = _build_archive(job)
    try:
        return _job_complete(job.pk, delivered, size, archive_name(job))
    except HoldNotPending:
        return job_fail(job_id=job.pk, reason="The credit reservation expired before the download finished.")


def jobs_fail_stale(*, now: datetime | None = None, limit: int = 200) -> int:
    """Fail jobs past their deadline or whose hold is no longer pending (expired). Returns count."""
    now = now or timezone.now()
    open_jobs = DownloadJob.objects.filter(status__in=[JobStatus.QUEUED, JobStatus.RUNNING])
    due = list(
        open_jobs.filter(Q(deadline_at__lte=now) | (Q(hold__isnull=False) & ~Q(hold__status=HoldStatus.PENDING)))
        .order_by("deadline_at")
        .values_list("pk", flat=True)[:limit]
    )
    for job_id in due:
        job_fail(job_id=job_id, reason="The download did not finish in time; nothing was charged.")
    return len(due)


# --- single items ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemDelivery:
    item: Item
    charged: int
    link_kind: str
    link_id: int
    unlocked: bool


def _downloadable(*, user: User, item_id: int) -> Item:
    item = selectors.listed_items().filter(pk=item_id).first()
    if item is None:
        raise ItemUnavailable("There is no downloadable item with that id.")
    if not selectors.can_access(user=user, item=item):
        raise ItemForbidden(f"This item is only for members of {item.access_group}.", group=str(item.access_group))
    return item


def item_download(*, user: User, item_id: int, idempotency_key: str | None = None) -> ItemDelivery:
    """Charge for one item and say which signed link to hand out.

    - unlock items: the first call creates the unlock (unique per user and item) and charges
      the price once (key `downloads:unlock:<item>:<user>`); later calls are free;
    - metered items: every call charges, keyed by the client's idempotency key (a retried
      request returns the first delivery) or a fresh key per request;
    - free items (price 0): a record, no transfer.
    Raises ItemUnavailable, wallet InsufficientFunds.
    """
    item = _downloadable(user=user, item_id=item_id)
    if item.pricing_mode == PricingMode.UNLOCK:
        return _unlock(user=user, item=item)
    scope = f"downloads:item:{item.pk}:user:{user.pk}:"
    key = scope + (idempotency_key or f"auto-{uuid.uuid4().hex}")
    if len(key) > 200:
        raise InvalidRequest("idempotency_key is too long (at most 100 characters).")
    existing = DownloadRecord.objects.filter(idempotency_key=key).first()
    if existing is not None:
        return ItemDelivery(item=item, charged=existing.charged, link_kind="rec", link_id=existing.pk, unlocked=False)
    try:
        with transaction.atomic(durable=True):
            record = DownloadRecord.objects.create(
                user=user,
                item=item,
                source=RecordSource.METERED if item.price else RecordSource.FREE,
                charged=item.price,
                idempotency_key=key,
            )
            _charge_record(record=record, key=key, memo=f"Download: {item.title}")
    except IntegrityError:
        # The same key raced us and won: hand out its delivery, charge nothing more.
        record = DownloadRecord.objects.get(idempotency_key=key)
    return ItemDelivery(item=item, charged=record.charged, link_kind="rec", link_id=record.pk, unlocked=False)


def _charge_record(*, record: DownloadRecord, key: str, memo: str) -> None:
    """Charge a single-item delivery to its member (kind `download`, to revenue) and link the
    transfer to the record. Free items cost nothing and post nothing. Inside the caller's
    transaction, after its own row writes."""
    if not record.charged:
        return
    record.transfer = wallet.transfer_post(
        from_account=wallet.user_account(user_id=record.user_id),
        to_account=wallet.system_account(name=SystemAccount.REVENUE),
        amount=record.charged,
        kind=TransferKind.DOWNLOAD,
        idempotency_key=key,
        memo=memo[:255],
        cause=record,
        created_by_id=record.user_id,
    )
    record.save(update_fields=["transfer"])


def _unlock(*, user: User, item: Item) -> ItemDelivery:
    existing = Unlock.objects.filter(user_id=user.pk, item_id=item.pk).first()
    if existing is not None:
        return ItemDelivery(item=item, charged=0, link_kind="unl", link_id=existing.pk, unlocked=True)
    try:
        with transaction.atomic(durable=True):
            record = DownloadRecord.objects.create(user=user, item=item, source=RecordSource.UNLOCK, charged=item.price)
            # Unique per (user, item): a concurrent unlock blocks on the index, then fails here.
            unlock = Unlock.objects.create(user=user, item=item, record=record)
            _charge_record(record=record, key=f"downloads:unlock:{item.pk}:{user.pk}", memo=f"Unlock: {item.title}")
    except IntegrityError:
        unlock = Unlock.objects.get(user_id=user.pk, item_id=item.pk)
        return ItemDelivery(item=item, charged=0, link_kind="unl", link_id=unlock.pk, unlocked=True)
    return ItemDelivery(item=item, charged=item.price, link_kind="unl", link_id=unlock.pk, unlocked=True)
