"""Credit categories over time: expiring promotional lots, telling members beforehand, and the
one-off categorisation of balances that existed before categories did."""

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from core.events import Event, record

from ..lots import SOURCE_CATEGORY, CreditCategory, CreditLot
from ..models import SystemAccount, TransferKind
from ._common import _fingerprint, _lock_user_accounts, system_account
from ._rows import _write_transfer

logger = logging.getLogger(__name__)

# Where expired credits go back to, when the lot's credit did not come from a system account.
_EXPIRY_SINK = {
    CreditCategory.BONUS: SystemAccount.PROMOTIONS,
    CreditCategory.GRANTED: SystemAccount.PROMOTIONS,
    CreditCategory.EARNED: SystemAccount.REWARDS_POOL,
}


def credits_announce_expiring(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Record CREDITS_EXPIRING once for each lot with credits left that expires within
    GOLDBOOK_CREDIT_EXPIRY_NOTICE_DAYS. Returns how many were announced. Safe to run twice: the
    lot's `announced_at` is set by a conditional UPDATE in the event's transaction."""
    now = now or timezone.now()
    horizon = now + timedelta(days=settings.GOLDBOOK_CREDIT_EXPIRY_NOTICE_DAYS)
    due = CreditLot.objects.filter(
        live=True, announced_at__isnull=True, expires_at__gt=now, expires_at__lte=horizon
    ).values_list("pk", "account_id", "account__user_id", "category", "remaining", "expires_at")[:limit]
    announced = 0
    for lot_id, account_id, user_id, category, remaining, expires_at in list(due):
        with transaction.atomic():
            if not CreditLot.objects.filter(pk=lot_id, announced_at__isnull=True).update(announced_at=now):
                continue
            record(
                Event.CREDITS_EXPIRING,
                {
                    "lot_id": lot_id,
                    "user_id": user_id,
                    "account_id": account_id,
                    "category": category,
                    "amount": remaining,
                    "expires_at": expires_at.isoformat() if expires_at else None,
                },
            )
            announced += 1
    return announced


def credits_expire(*, now: datetime | None = None, limit: int = 500) -> int:
    """Expire the credits left in lots past their expiry: one `expiry` transfer per lot, from
    the member back to the system account they came from, each in its own short transaction.

    Steps per lot: lock the account; re-read the lot (lots change only under that lock); take
    what is left, but at most what pending holds leave available (the rest expires on a later run,
    once the hold is resolved); post the transfer, which draws from that lot only; record
    CREDITS_EXPIRED. Returns how many lots were (partly) expired. Idempotent: a rerun finds
    nothing left, and the key names the account version the expiry was posted at.
    """
    now = now or timezone.now()
    due = list(
        CreditLot.objects.filter(live=True, expires_at__lte=now)
        .order_by("expires_at", "pk")
        .values_list("pk", "account_id")[:limit]
    )
    expired = 0
    for lot_id, account_id in due:
        with transaction.atomic():
            row = _lock_user_accounts([account_id])[account_id]
            lot = CreditLot.objects.select_related("source_transfer__debit_account").get(pk=lot_id)
            take = min(lot.remaining, row.available)
            if take <= 0:
                continue
            source = lot.source_transfer.debit_account if lot.source_transfer is not None else None
            sink = (
                source
                if source is not None and source.is_system
                else system_account(name=_EXPIRY_SINK[CreditCategory(lot.category)], currency=row.currency_id)
            )
            transfer = _write_transfer(
                locked={row.pk: row},
                debit=row,
                credit=sink,
                amount=take,
                kind=TransferKind.EXPIRY.value,
                memo=f"Expired {lot.category} credits (lot #{lot.pk})",
                idempotency_key=f"lot:{lot.pk}:expiry:{row.version}",
                fingerprint=_fingerprint(op="expiry", lot=lot.pk, amount=take, version=row.version),
                lot_id=lot.pk,
            )
            record(
                Event.CREDITS_EXPIRED,
                {"lot_id": lot.pk, "user_id": row.user_id, "amount": take, "transfer_id": transfer.pk},
            )
            expired += 1
        logger.info("Lot #%s: %s expired from account #%s", lot_id, take, account_id)
    return expired


@dataclass
class Categorisation:
    """What the one-off categorisation found (or, in a dry run, would write)."""

    accounts: int = 0
    totals: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CreditCategory.values, 0))


_HISTORY_SQL = (
    "SELECT e.amount, t.kind, r.kind, r.credit_account_id FROM wallet_entry e"
    " JOIN wallet_transfer t ON t.id = e.transfer_id LEFT JOIN wallet_transfer r ON r.id = t.reverses_id"
    " WHERE e.account_id = %s"
)


def split_balance(*, account_id: int, balance: int) -> dict[str, int]:
    """How an uncategorised balance is split: paid up to what the account was credited by
    purchases net of their reversals (whatever was spent is taken to have been promotional
    first, as the default spend order would have), then bonus, earned and granted each up to
    their net credits; anything else (spends given back) is granted."""
    net = dict.fromkeys(CreditCategory.values, 0)
    with connection.cursor() as cursor:
        cursor.execute(_HISTORY_SQL, [account_id])
        for amount, kind, reversed_kind, reversed_credit in cursor.fetchall():
            if reversed_kind is None and amount > 0:
                net[SOURCE_CATEGORY[kind]] += amount
            elif reversed_kind is not None and amount < 0 and reversed_credit == account_id:
                net[SOURCE_CATEGORY[reversed_kind]] += amount  # a credit taken back
    split = dict.fromkeys(CreditCategory.values, 0)
    left = balance
    for category in (CreditCategory.PAID, CreditCategory.BONUS, CreditCategory.EARNED, CreditCategory.GRANTED):
        split[category] = min(left, max(0, net[category]))
        left -= split[category]
    split[CreditCategory.GRANTED] += left
    return split


def credits_categorise_existing(*, dry_run: bool) -> Categorisation:
    """Give every user account with a balance and no lots its opening lots (open-ended, never
    expiring: credits members already hold do not start expiring), one transaction per account
    under its row lock. Written in SQL against the columns of migration 0005, because migration
    0006 runs it. A dry run reports the same split and writes nothing."""
    found = Categorisation()
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT a.id FROM wallet_account a WHERE a.user_id IS NOT NULL AND a.balance > 0"
            " AND NOT EXISTS (SELECT 1 FROM wallet_creditlot l WHERE l.account_id = a.id) ORDER BY a.id"
        )
        account_ids = [row[0] for row in cursor.fetchall()]
    for account_id in account_ids:
        with transaction.atomic():
            lock = " FOR NO KEY UPDATE" if connection.features.has_select_for_no_key_update else ""
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT balance FROM wallet_account WHERE id = %s{lock}", [account_id])  # noqa: S608
                balance = int(cursor.fetchone()[0])
                cursor.execute("SELECT 1 FROM wallet_creditlot WHERE account_id = %s", [account_id])
                if cursor.fetchone() is not None:
                    continue
                split = split_balance(account_id=account_id, balance=balance)
                found.accounts += 1
                for category, amount in split.items():
                    found.totals[category] += amount
                    if dry_run or not amount:
                        continue
                    _open_lot(cursor, account_id=account_id, category=category, amount=amount)
    return found


def _open_lot(cursor: object, *, account_id: int, category: str, amount: int) -> None:
    now = timezone.now()
    cursor.execute(  # type: ignore[attr-defined]
        "INSERT INTO wallet_creditlot (account_id, category, remaining, expires_at, source_transfer_id,"
        " announced_at, created_at) VALUES (%s, %s, %s, NULL, NULL, NULL, %s)",
        [account_id, category, amount, now],
    )
    cursor.execute(  # type: ignore[attr-defined]
        "SELECT id FROM wallet_creditlot WHERE account_id = %s AND category = %s AND expires_at IS NULL",
        [account_id, category],
    )
    lot_id = cursor.fetchone()[0]  # type: ignore[attr-defined]
    cursor.execute(  # type: ignore[attr-defined]
        "INSERT INTO wallet_lotentry (lot_id, transfer_id, amount, created_at) VALUES (%s, NULL, %s, %s)",
        [lot_id, amount, now],
    )
