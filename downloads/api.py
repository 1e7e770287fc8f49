"""JSON API of downloads: start a job, follow it, buy single items, redeem ad completions."""

from decimal import Decimal
from typing import Annotated

from django.conf import settings
from django.http import HttpRequest
from django.utils.translation import gettext
from ninja import Field, Router, Schema, Status

from accounts.api import token_auth
from accounts.requests import signed_in_member
from core.api import AUTH_ERRORS, ErrorOut, Money
from core.idempotency import IdempotencyKeyHeader, clean_key
from core.requests import signed_in_id
from wallet.errors import InsufficientFunds
from wallet.selectors import default_currency

from . import links, selectors, services
from .errors import ItemUnavailable, JobNotFound, Shortfall
from .models import DownloadJob, JobStatus

router = Router(tags=["downloads"])

ItemId = Annotated[int, Field(ge=1, le=2**63 - 1)]


class StartDownloadIn(Schema):
    session_token: str | None = None
    requested_songs: int = Field(..., ge=1, description="How many songs, 1 to DOWNLOADS_MAX_SONGS_PER_JOB.")
    item_ids: list[ItemId] | None = Field(
        None, max_length=1000, description="Pick these songs; else the newest not yet downloaded."
    )
    use_free_downloads: bool = False


class StartDownloadOut(Schema):
    job_id: str
    max_songs: int
    credits_required: Money
    credits_available: Money
    credits_after: Money
    free_downloads_used: int
    message: str


class InsufficientOut(Schema):
    error: str
    credits_required: Money
    credits_available: Money
    credits_needed: Money
    message: str


class Progress(Schema):
    done: int
    total: int


class JobOut(Schema):
    job_id: str
    status: str
    progress: Progress
    songs_delivered: int
    credits_charged: Money
    download_url: str | None
    message: str


class ItemDownloadIn(Schema):
    session_token: str | None = None
    idempotency_key: str | None = Field(
        None, max_length=100, description="Same as the Idempotency-Key header; when both are given they must agree."
    )


class ItemDownloadOut(Schema):
    item_id: int
    title: str
    credits_charged: Money
    unlocked: bool
    download_url: str
    expires_in: int
    credits_available: Decimal


class AdCompleteIn(Schema):
    session_token: str | None = None
    ad_token: str = Field(..., max_length=2048)


class AdCompleteOut(Schema):
    free_downloads: int
    ads_watched_today: int
    ads_per_day: int
    message: str


def _insufficient(exc: InsufficientFunds, *, what: str) -> Status[dict[str, object]]:
    """402 with the seed's body: what every paid endpoint here answers when credits run short."""
    return Status(402, Shortfall.of(exc, what=what).body())


def job_payload(request: HttpRequest, job: DownloadJob) -> dict[str, object]:
    currency = default_currency()
    url = None
    if job.is_completed:
        url = request.build_absolute_uri(links.url(user_id=job.user_id, kind="job", object_id=job.pk))
    messages = {
        JobStatus.QUEUED: gettext("Waiting for a worker."),
        JobStatus.RUNNING: gettext("Packing %(done)s of %(total)s songs.")
        % {"done": job.progress_done, "total": job.requested_songs},
        JobStatus.COMPLETED: gettext("Ready: %(n)s songs, %(charged)s credits.")
        % {"n": job.delivered_songs, "charged": currency.to_decimal(job.credits_charged)},
        JobStatus.FAILED: job.error or gettext("The download failed; nothing was charged."),
    }
    return {
        "job_id": job.public_id,
        "status": job.status,
        "progress": {"done": job.progress_done, "total": job.requested_songs},
        "songs_delivered": job.delivered_songs,
        "credits_charged": currency.to_decimal(job.credits_charged),
        "download_url": url,
        "message": messages[JobStatus(job.status)],
    }


@router.post(
    "/start-download",
    auth=token_auth,
    response={202: StartDownloadOut, **AUTH_ERRORS, 402: InsufficientOut, 409: ErrorOut},
    summary="Start a multi-song download job (credits held now, charged on completion)",
)
def start_download(
    request: HttpRequest, payload: StartDownloadIn, idempotency_key: IdempotencyKeyHeader = None
) -> Status[dict[str, object]]:
    key = clean_key(idempotency_key)
    try:
        started = services.job_start(
            user=signed_in_member(request),
            requested_songs=payload.requested_songs,
            item_ids=payload.item_ids,
            use_free_downloads=payload.use_free_downloads,
            idempotency_key=key,
        )
    except InsufficientFunds as exc:
        return _insufficient(exc, what=gettext("download %(n)s songs") % {"n": payload.requested_songs})
    # The answer comes from what the service returned, nothing read after commit: a failing
    # read here would answer 500 for a job that exists and hides its id from the client.
    currency = started.currency
    return Status(
        202,
        {
            "job_id": started.job.public_id,
            "max_songs": started.job.requested_songs,
            "credits_required": currency.to_decimal(started.credits_required),
            "credits_available": currency.to_decimal(started.credits_available),
            "credits_after": currency.to_decimal(started.credits_after),
            "free_downloads_used": started.job.free_songs,
            "message": gettext("Download started. Credits will be deducted upon completion."),
        },
    )


@router.get(
    "/download-jobs/{job_id}",
    auth=token_auth,
    response={200: JobOut, **AUTH_ERRORS, 404: ErrorOut},
    summary="Follow a download job (owner only)",
)
def download_job(request: HttpRequest, job_id: str) -> dict[str, object]:
    job = selectors.job_for_owner(public_id=job_id, user_id=signed_in_id(request))
    if job is None:
        raise JobNotFound()
    return job_payload(request, job)


@router.post(
    "/items/{item_id}/download",
    auth=token_auth,
    response={200: ItemDownloadOut, **AUTH_ERRORS, 402: InsufficientOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut},
    summary="Buy one item (metered: every time; unlock: once) and get a signed link",
)
def item_download(
    request: HttpRequest,
    item_id: int,
    payload: ItemDownloadIn | None = None,
    idempotency_key: IdempotencyKeyHeader = None,
) -> Status[dict[str, object]]:
    if not 0 < item_id < 2**63:
        raise ItemUnavailable()
    key = clean_key(idempotency_key, payload.idempotency_key if payload else None)
    user = signed_in_member(request)
    try:
        delivery = services.item_download(user=user, item_id=item_id, idempotency_key=key)
    except InsufficientFunds as exc:
        return _insufficient(exc, what=gettext("download this item"))
    currency = delivery.currency  # from the service: no read after the charge committed
    return Status(
        200,
        {
            "item_id": delivery.item.pk,
            "title": delivery.item.title,
            "credits_charged": currency.to_decimal(delivery.charged),
            "unlocked": delivery.unlocked,
            "download_url": request.build_absolute_uri(
                links.url(user_id=user.pk, kind=delivery.link_kind, object_id=delivery.link_id)
            ),
            "expires_in": settings.DOWNLOADS_LINK_MAX_AGE,
            "credits_available": currency.to_decimal(delivery.credits_available),
        },
    )


@router.post(
    "/ads/complete",
    auth=token_auth,
    response={200: AdCompleteOut, **AUTH_ERRORS, 409: ErrorOut, 429: ErrorOut, 503: ErrorOut},
    summary="Redeem an ad-completion token for one free download",
)
def ads_complete(request: HttpRequest, payload: AdCompleteIn) -> dict[str, object]:
    user = signed_in_member(request)
    allowance = services.ad_complete(user=user, token=payload.ad_token)
    tier = selectors.free_tier(user_id=user.pk)
    return {
        "free_downloads": allowance.remaining,
        "ads_watched_today": tier.ads_today,
        "ads_per_day": tier.ads_per_day,
        "message": gettext("Thanks for watching! You have %(n)s free downloads.") % {"n": allowance.remaining},
    }
