"""The catalog's writes: adding items with their files, members' EA uploads and staff review.

A verified or withdrawn EA is told to the other apps as `Event.EA_REVIEWED`, recorded in the
decision's transaction (rewards award or claw back; downloads emails the uploader).
"""

import hashlib
import logging
import secrets
from datetime import date
from decimal import Decimal
from pathlib import PurePosixPath

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from accounts.models import User
from core.events import Event, record
from wallet.selectors import default_currency

from .. import selectors
from ..errors import UploadQuotaExceeded, VerificationError
from ..models import Item, ItemKind, Platform, PricingMode, Timeframe, Verification, song_price_minor

logger = logging.getLogger(__name__)


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
    kind: ItemKind,
    file: File,
    slug: str | None = None,
    price: int | None = None,
    pricing_mode: PricingMode = PricingMode.METERED,
    uploader: User | None = None,
    **fields: object,
) -> Item:
    """Add an item with its file; size and SHA-256 are computed from the file itself."""
    size, sha = file_digest(file)
    item = Item(
        slug=slug or unique_slug(title),
        title=title,
        kind=ItemKind(kind),
        size=size,
        sha256=sha,
        price=song_price_minor() if price is None else price,
        pricing_mode=PricingMode(pricing_mode),
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
    pricing_mode: PricingMode,
    platform: Platform,
    symbol: str,
    timeframe: Timeframe,
    backtest_start: date,
    backtest_end: date,
    profit_factor: Decimal,
    max_drawdown_pct: Decimal,
) -> Item:
    """A member uploads an EA; it stays out of the catalog until staff verify it. Raises
    UploadQuotaExceeded when it would take the member past DOWNLOADS_UPLOAD_QUOTA_BYTES (the
    view refuses most such uploads while they stream in; this is the rule itself)."""
    used = selectors.upload_bytes_used(user_id=uploader.pk)
    if used + (file.size or 0) > settings.DOWNLOADS_UPLOAD_QUOTA_BYTES:
        raise UploadQuotaExceeded()
    item = item_create(
        title=title,
        kind=ItemKind.EA,
        file=file,
        price=default_currency().to_minor(price),
        pricing_mode=pricing_mode,
        uploader=uploader,
        description=description,
        platform=Platform(platform),
        symbol=symbol.upper(),
        timeframe=Timeframe(timeframe),
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


def _ea_decide(*, item_id: int, staff_id: int, status: Verification, note: str) -> Item:
    with transaction.atomic(durable=True):
        item = Item.objects.select_for_update(no_key=True).filter(pk=item_id, kind=ItemKind.EA).first()
        if item is None:
            raise VerificationError(_("Item #%(id)s is not an EA.") % {"id": item_id})
        if item.verification == status:
            return item  # idempotent: deciding the same way twice changes nothing, notifies once
        was_verified = item.is_verified
        item.verification = status
        item.verified_at = timezone.now()
        item.verified_by_id = staff_id
        item.verification_note = note[:255]
        item.save(update_fields=["verification", "verified_at", "verified_by", "verification_note", "updated_at"])
        if item.uploader_id:
            # Only an uploader is awarded (or clawed back) and emailed: staff-added EAs have none.
            record(
                Event.EA_REVIEWED,
                {
                    "item_id": item.pk,
                    "uploader_id": item.uploader_id,
                    "verified": status == Verification.VERIFIED,
                    "was_verified": was_verified,
                },
            )
    logger.info("Item #%s: EA %s by staff #%s", item.pk, status, staff_id)
    return item


def ea_verify(*, item_id: int, staff_id: int, note: str = "") -> Item:
    """Staff mark an EA verified: it enters the catalog and the uploader is told by email.

    Idempotent (verifying a verified EA returns it unchanged). Raises VerificationError when the
    item is not an EA. Records Event.EA_REVIEWED (the uploader's award, the decision email).
    """
    return _ea_decide(item_id=item_id, staff_id=staff_id, status=Verification.VERIFIED, note=note)


def ea_reject(*, item_id: int, staff_id: int, note: str = "") -> Item:
    """Staff reject an EA (or withdraw a verified one): it leaves the catalog; uploader emailed.
    Withdrawing a verified EA claws its award back (rewards, on Event.EA_REVIEWED)."""
    return _ea_decide(item_id=item_id, staff_id=staff_id, status=Verification.REJECTED, note=note)
