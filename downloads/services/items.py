"""Single items: charge for one download (metered) or once for good (unlock), then hand out a link."""

import uuid
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.utils.translation import gettext as _

from accounts.models import User
from wallet import services as wallet
from wallet.models import Currency, SystemAccount, TransferKind
from wallet.selectors import balance_for_user

from .. import selectors
from ..errors import ItemForbidden, ItemUnavailable, KeyReused
from ..models import DownloadRecord, Item, RecordSource, Unlock


@dataclass(frozen=True)
class ItemDelivery:
    item: Item
    charged: int
    link_kind: str
    link_id: int
    unlocked: bool
    # The member's spendable credits once this delivery was paid, read inside its transaction:
    # the API answers from this, never from a read after commit that could fail.
    credits_available: int
    currency: Currency


def _downloadable(*, user: User, item_id: int) -> Item:
    item = selectors.listed_items().filter(pk=item_id).first()
    if item is None:
        raise ItemUnavailable(_("There is no downloadable item with that id."))
    if not selectors.can_access(user=user, item=item):
        raise ItemForbidden(
            _("This item is only for members of %(group)s.") % {"group": item.access_group},
            group=str(item.access_group),
        )
    return item


def _delivery(*, user: User, item: Item, charged: int, link_kind: str, link_id: int) -> ItemDelivery:
    """The delivery with the member's spendable credits read now: inside the charging
    transaction for a new one, so the answer needs no read after commit."""
    balance = balance_for_user(user_id=user.pk)
    return ItemDelivery(
        item=item,
        charged=charged,
        link_kind=link_kind,
        link_id=link_id,
        unlocked=link_kind == "unl",
        credits_available=balance.available,
        currency=balance.currency,
    )


def item_download(*, user: User, item_id: int, idempotency_key: str | None = None) -> ItemDelivery:
    """Charge for one item and say which signed link to hand out.

    - unlock items: the first call creates the unlock (unique per user and item) and charges
      the price once (key `downloads:unlock:<item>:<user>`); later calls are free;
    - metered items: every call charges, keyed by the client's idempotency key (a retried
      request returns the first delivery) or a fresh key per request. A client key is scoped
      to the member and this endpoint: reused for another item it is refused;
    - free items (price 0): a record, no transfer.
    Raises ItemUnavailable, ItemForbidden, KeyReused (409), wallet InsufficientFunds.
    """
    item = _downloadable(user=user, item_id=item_id)
    key = f"downloads:item:user:{user.pk}:" + (idempotency_key or f"auto-{uuid.uuid4().hex}")
    existing = DownloadRecord.objects.filter(idempotency_key=key).first() if idempotency_key else None
    if existing is not None:
        if existing.item_id != item.pk:
            raise KeyReused(_("This Idempotency-Key was used to download another item."))
        return _delivery(user=user, item=item, charged=existing.charged, link_kind="rec", link_id=existing.pk)
    if item.is_unlock:
        return _unlock(user=user, item=item)
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
            return _delivery(user=user, item=item, charged=record.charged, link_kind="rec", link_id=record.pk)
    except IntegrityError:
        # The same key raced us and won: hand out its delivery, charge nothing more.
        record = DownloadRecord.objects.get(idempotency_key=key)
    return _delivery(user=user, item=item, charged=record.charged, link_kind="rec", link_id=record.pk)


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
    if existing is None:
        try:
            with transaction.atomic(durable=True):
                record = DownloadRecord.objects.create(
                    user=user, item=item, source=RecordSource.UNLOCK, charged=item.price
                )
                # Unique per (user, item): a concurrent unlock blocks on the index, then fails here.
                unlock = Unlock.objects.create(user=user, item=item, record=record)
                key = f"downloads:unlock:{item.pk}:{user.pk}"
                _charge_record(record=record, key=key, memo=f"Unlock: {item.title}")
                return _delivery(user=user, item=item, charged=item.price, link_kind="unl", link_id=unlock.pk)
        except IntegrityError:
            existing = Unlock.objects.get(user_id=user.pk, item_id=item.pk)
    return _delivery(user=user, item=item, charged=0, link_kind="unl", link_id=existing.pk)
