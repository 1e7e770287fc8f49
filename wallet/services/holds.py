"""Holds: placing, capturing, releasing and expiring reserved funds."""

import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.events import Event, record

from ..errors import (
    AccountOnHold,
    CurrencyMismatch,
    HoldNotPending,
    InsufficientFunds,
    InvalidAmount,
)
from ..models import (
    Account,
    Hold,
    HoldStatus,
    Transfer,
    TransferKind,
)
from ._common import (
    _balances_changed,
    _cause_fields,
    _cause_ref,
    _check_amount,
    _check_key,
    _fingerprint,
    _lock_user_accounts,
    _same_or_conflict,
)
from ._rows import _write_transfer

logger = logging.getLogger(__name__)


def hold_place(
    *,
    account: Account,
    amount: int,
    kind: TransferKind | str,
    idempotency_key: str,
    memo: str = "",
    cause: models.Model | None = None,
    expires_at: datetime | None = None,
) -> Hold:
    """Set aside `amount` of the user's available balance until captured, released or expired.

    Raises InvalidAmount (also for a system account), InsufficientFunds, AccountOnHold (the
    member is on hold for review: no new reservation), IdempotencyConflict.
    """
    _check_amount(amount)
    _check_key(idempotency_key)
    if account.is_system:
        raise InvalidAmount(_("Holds are placed on user accounts only."))
    cause_fields = _cause_fields(cause)
    fingerprint = _fingerprint(
        op="hold",
        account=account.pk,
        amount=amount,
        kind=str(kind),
        cause=_cause_ref(cause_fields["cause_type_id"], cause_fields["cause_id"]),
    )
    expires_at = expires_at or timezone.now() + timedelta(seconds=settings.GOLDBOOK_HOLD_TTL_SECONDS)
    try:
        with transaction.atomic():
            _balances_changed(account)
            row = _lock_user_accounts([account.pk])[account.pk]
            existing = Hold.objects.filter(idempotency_key=idempotency_key).first()
            if existing is not None:
                _same_or_conflict(existing, fingerprint)
                return existing
            if row.frozen:
                raise AccountOnHold()
            if row.available < amount:
                raise InsufficientFunds(available=row.available, required=amount)
            hold = Hold.objects.create(
                account=row,
                amount=amount,
                kind=str(kind),
                memo=memo[:255],
                idempotency_key=idempotency_key,
                fingerprint=fingerprint,
                expires_at=expires_at,
                **cause_fields,
            )
            row.held += amount
            row.save(update_fields=["held"])
    except IntegrityError:
        existing = Hold.objects.filter(idempotency_key=idempotency_key).first()
        if existing is None:
            raise
        _same_or_conflict(existing, fingerprint)
        return existing
    logger.info("Hold #%s: %s placed on account #%s", hold.pk, amount, account.pk)
    return hold


def _lock_hold(hold_id: int) -> Hold:
    return Hold.objects.select_for_update(no_key=True).get(pk=hold_id)


def hold_capture(*, hold_id: int, amount: int, to_account: Account, memo: str = "") -> Transfer | None:
    """Capture `amount` (0 ≤ amount ≤ hold) into `to_account` and release the rest.

    Idempotent: capturing a hold that was already captured for the same amount into the same
    account returns that capture. A reservation made before its member was put on hold is still
    captured into a system account (a download already delivering is charged), never into
    another member's account while the hold lasts (AccountOnHold). Capturing 0 releases the hold
    and returns None (also when the hold is already released or expired, like `hold_release`).
    Raises HoldNotPending (captured for another amount or account; a capture > 0 of a released
    or expired hold), InvalidAmount, CurrencyMismatch.
    """
    if not isinstance(amount, int) or isinstance(amount, bool) or amount < 0:
        raise InvalidAmount(_("A capture is a whole, non-negative number of minor units."))
    with transaction.atomic():
        hold = _lock_hold(hold_id)  # holds before accounts: the global lock order
        if hold.status == HoldStatus.CAPTURED and hold.captured_amount == amount:
            capture = Transfer.objects.filter(hold=hold).first()
            if capture is not None and capture.credit_account_id == to_account.pk:
                return capture
        if amount == 0 and hold.status in (HoldStatus.RELEASED, HoldStatus.EXPIRED):
            return None
        if hold.status != HoldStatus.PENDING:
            raise HoldNotPending(
                _("Hold #%(id)s is %(status)s.") % {"id": hold.pk, "status": hold.get_status_display()}
            )
        if amount > hold.amount:
            raise InvalidAmount(_("Capture must be between 0 and %(amount)s.") % {"amount": hold.amount})
        if amount == 0:
            _hold_resolve(hold, HoldStatus.RELEASED)
            return None
        if to_account.pk == hold.account_id:
            raise InvalidAmount(_("A hold is captured into another account than the one it is on."))
        if to_account.currency_id != hold.account.currency_id:
            raise CurrencyMismatch(_("A hold is captured in its own currency."))
        _balances_changed(hold.account, to_account)
        locked = _lock_user_accounts([hold.account_id, to_account.pk])
        if locked[hold.account_id].frozen and to_account.pk in locked:
            raise AccountOnHold()
        transfer = _write_transfer(
            locked=locked,
            debit=locked[hold.account_id],
            credit=locked.get(to_account.pk, to_account),
            amount=amount,
            held_release=hold.amount,
            kind=hold.kind,
            memo=(memo or hold.memo)[:255],
            idempotency_key=f"hold:{hold.pk}:capture",
            fingerprint=_fingerprint(op="capture", hold=hold.pk, amount=amount, credit=to_account.pk),
            hold=hold,
            cause_type_id=hold.cause_type_id,
            cause_id=hold.cause_id,
        )
        hold.status = HoldStatus.CAPTURED
        hold.captured_amount = amount
        hold.resolved_at = timezone.now()
        hold.save(update_fields=["status", "captured_amount", "resolved_at"])
    logger.info("Hold #%s: captured %s of %s into account #%s", hold.pk, amount, hold.amount, to_account.pk)
    return transfer


def _hold_resolve(hold: Hold, status: HoldStatus) -> None:
    """Give the held amount back to available; the hold row is already locked."""
    row = _lock_user_accounts([hold.account_id])[hold.account_id]
    _balances_changed(row)
    row.held -= hold.amount
    row.save(update_fields=["held"])
    hold.status = status
    hold.resolved_at = timezone.now()
    hold.save(update_fields=["status", "resolved_at"])
    logger.info("Hold #%s: %s, %s back to available on account #%s", hold.pk, status, hold.amount, row.pk)


def hold_release(*, hold_id: int) -> Hold:
    """Release a pending hold. Releasing a released or expired hold again is a no-op.

    Raises HoldNotPending when the hold was captured.
    """
    with transaction.atomic():
        hold = _lock_hold(hold_id)
        if hold.status in (HoldStatus.RELEASED, HoldStatus.EXPIRED):
            return hold
        if hold.status != HoldStatus.PENDING:
            raise HoldNotPending(
                _("Hold #%(id)s is %(status)s.") % {"id": hold.pk, "status": hold.get_status_display()}
            )
        _hold_resolve(hold, HoldStatus.RELEASED)
    return hold


def holds_expire(*, now: datetime | None = None, limit: int = 500) -> int:
    """Release pending holds past their expiry, each in its own short transaction.

    Returns how many were expired. Holds resolved meanwhile by their owner are skipped.
    """
    now = now or timezone.now()
    due = list(
        Hold.objects.filter(status=HoldStatus.PENDING, expires_at__lte=now)
        .order_by("expires_at")
        .values_list("pk", flat=True)[:limit]
    )
    expired = 0
    for hold_id in due:
        with transaction.atomic():
            hold = _lock_hold(hold_id)
            if hold.status != HoldStatus.PENDING or hold.expires_at > now:
                continue
            _hold_resolve(hold, HoldStatus.EXPIRED)
            record(Event.HOLD_EXPIRED, {"hold_id": hold.pk, "account_id": hold.account_id, "amount": hold.amount})
            expired += 1
    return expired
