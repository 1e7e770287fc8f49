"""Posting and reversing transfers."""

import logging
from typing import Any

from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from ..errors import (
    AccountOnHold,
    AlreadyReversed,
    CurrencyMismatch,
    InsufficientFunds,
    InvalidAmount,
)
from ..models import (
    Account,
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
    _hold_applies,
    _lock_user_accounts,
    _same_or_conflict,
)
from ._rows import (
    FunctionCall,
    FunctionRow,
    _write_transfer,
    call_post,
    finish_posted,
    function_call,
    self_contained,
)

logger = logging.getLogger(__name__)


def transfer_post(
    *,
    from_account: Account,
    to_account: Account,
    amount: int,
    kind: TransferKind | str,
    idempotency_key: str,
    memo: str = "",
    cause: models.Model | None = None,
    created_by_id: int | None = None,
    reverses: Transfer | None = None,
    credit_source: str | None = None,
    payer: Account | None = None,
) -> Transfer:
    """Move `amount` minor units from one account to another.

    Steps: validate; lock the user accounts in pk order; return the earlier transfer if the key
    was used with the same parameters; check the debited user's available balance (balance minus
    held); write the transfer, both entries and the new balances.

    `reverses` links a reversal to the transfer it corrects (at most one reversal per transfer). It
    must move money back the way it came: that transfer's credited account as the debit, its
    debited account as the credit, and at most its amount. `transfer_reverse` reverses in full;
    a partial reversal is for callers that can only take back what is still there (rewards turns
    the rest of a clawed-back award into a debt).

    Credit categories move with the balances (`_lots`): a credit to a user lands in the category
    of `credit_source` (default: the kind; e.g. `welcome` for a welcome bonus, which may expire),
    a debit draws in the spend order, a reversal takes back from the category it credited and
    gives a spend back to the lots it came from. A reversal whose category holds less than the
    amount raises InsufficientFunds like a short balance.

    A member on hold (`wallet/member_holds.py`) is not debited, except by staff adjustments,
    expiries and claw-backs of non-purchase credits (`_hold_applies`); checked under the row
    lock that checks the funds. `payer` names the member whose money a payout from a system
    account (escrow) is: such a payout waits while that member is on hold.

    Raises InvalidAmount, CurrencyMismatch, InsufficientFunds, AccountOnHold,
    IdempotencyConflict, AlreadyReversed.
    """
    if reverses is not None and (
        from_account.pk != reverses.credit_account_id
        or to_account.pk != reverses.debit_account_id
        or amount > reverses.amount
    ):
        raise InvalidAmount(
            _("A reversal of transfer #%(id)s must swap its accounts and move at most its amount.")
            % {"id": reverses.pk}
        )
    return _post(
        from_account=from_account,
        to_account=to_account,
        amount=amount,
        kind=str(kind),
        idempotency_key=idempotency_key,
        memo=memo,
        created_by_id=created_by_id,
        reverses_id=reverses.pk if reverses is not None else None,
        reversed_kind=reverses.kind if reverses is not None else None,
        lot_source=credit_source,
        payer=payer,
        **_cause_fields(cause),
    )


def _post(
    *,
    from_account: Account,
    to_account: Account,
    amount: int,
    kind: str,
    idempotency_key: str,
    memo: str,
    created_by_id: int | None,
    reverses_id: int | None,
    cause_type_id: int | None,
    cause_id: str,
    reversed_kind: str | None = None,
    lot_source: str | None = None,
    payer: Account | None = None,
) -> Transfer:
    fingerprint, fields = _checked(
        from_account=from_account,
        to_account=to_account,
        amount=amount,
        kind=kind,
        idempotency_key=idempotency_key,
        memo=memo,
        created_by_id=created_by_id,
        reverses_id=reverses_id,
        cause_type_id=cause_type_id,
        cause_id=cause_id,
    )
    guard = _hold_applies(kind=kind, reversed_kind=reversed_kind)
    call = None
    if connection.vendor == "postgresql":
        call = function_call(
            debit=from_account,
            credit=to_account,
            amount=amount,
            payer_id=payer.pk if payer is not None else None,
            guard=guard,
            now=timezone.now(),
            lot_source=lot_source,
            **fields,
        )
    try:
        if call is not None and not connection.in_atomic_block and self_contained(call):
            # Outside any transaction the call is its own: one round trip instead of BEGIN,
            # SELECT, COMMIT, and on a hot account the row lock is released as the statement
            # commits, not a round trip later. Every refusal returns before the first write and
            # a short draw raises (migration 0012), so a refused call leaves nothing behind.
            row = call_post(call)
            transfer = _function_result(call, row, fingerprint)
            if row[0] == "ok":
                _balances_changed(from_account, to_account)  # committed: delivered now
            return transfer
        with transaction.atomic():
            _balances_changed(from_account, to_account)
            if call is not None:
                return _function_result(call, call_post(call), fingerprint)
            # SQLite: the same steps in Python.
            payer_ids = [payer.pk] if payer is not None else []
            locked = _lock_user_accounts([from_account.pk, to_account.pk, *payer_ids])
            # No look-up of the key before writing: the unique index answers a reused key
            # (the INSERT raises, handled below), which saves a round trip under the lock.
            # Only when funds look short (or the member is on hold) do we ask first: a retry
            # of a transfer that already happened must get that transfer back.
            debit_row = locked.get(from_account.pk)
            on_hold = (guard and debit_row is not None and debit_row.frozen) or any(
                locked[pk].frozen for pk in payer_ids if pk in locked
            )
            if on_hold or (debit_row is not None and debit_row.available < amount):
                existing = Transfer.objects.filter(idempotency_key=idempotency_key).first()
                if existing is not None:
                    _same_or_conflict(existing, fingerprint)
                    return existing
                if on_hold:
                    raise AccountOnHold()
                assert debit_row is not None
                raise InsufficientFunds(available=debit_row.available, required=amount)
            transfer = _write_transfer(
                locked=locked, debit=from_account, credit=to_account, amount=amount, lot_source=lot_source, **fields
            )
    except IntegrityError:
        # The key (or the reversal link) is taken: a retry, a concurrent caller with the same key
        # (the unique index made us wait for its commit), or a conflict. The atomic block rolled
        # back to its savepoint (or the whole transaction), so nothing of ours was written.
        existing = Transfer.objects.filter(idempotency_key=idempotency_key).first()
        if existing is None:
            if reverses_id is not None and Transfer.objects.filter(reverses_id=reverses_id).exists():
                raise AlreadyReversed(_("Transfer #%(id)s was already reversed.") % {"id": reverses_id}) from None
            raise
        _same_or_conflict(existing, fingerprint)
        return existing
    return _posted(transfer)


def _checked(
    *, from_account: Account, to_account: Account, amount: int, idempotency_key: str, **row: Any
) -> tuple[str, dict[str, Any]]:
    """Validate a transfer's arguments (`row`: kind, memo, created_by_id, reverses_id,
    cause_type_id, cause_id); (its fingerprint, the transfer row's fields)."""
    _check_amount(amount)
    _check_key(idempotency_key)
    if from_account.currency_id != to_account.currency_id:
        raise CurrencyMismatch(_("Both accounts of a transfer must be in one currency."))
    if from_account.pk == to_account.pk:
        raise InvalidAmount(_("A transfer needs two different accounts."))
    fingerprint = _fingerprint(
        op="transfer",
        debit=from_account.pk,
        credit=to_account.pk,
        amount=amount,
        kind=row["kind"],
        cause=_cause_ref(row["cause_type_id"], row["cause_id"]),
        reverses=row["reverses_id"],
    )
    fields = {**row, "memo": row["memo"][:255], "idempotency_key": idempotency_key, "fingerprint": fingerprint}
    return fingerprint, fields


def _function_result(call: FunctionCall, row: FunctionRow, fingerprint: str) -> Transfer:
    """What a `wallet_transfer_post` row means: the transfer written, an earlier one with the same
    key (same parameters, or IdempotencyConflict), or AccountOnHold / InsufficientFunds."""
    status, transfer_id, _drawn, available = row
    if status == "existing":
        assert transfer_id is not None
        existing = Transfer.objects.get(pk=transfer_id)
        _same_or_conflict(existing, fingerprint)
        return existing
    if status == "hold":
        raise AccountOnHold()
    if status == "short":
        raise InsufficientFunds(available=int(available or 0), required=int(call.values["amount"]))
    return _posted(finish_posted(call, row))


def _posted(transfer: Transfer) -> Transfer:
    logger.info(
        "Transfer #%s: %s %s from account #%s to #%s",
        transfer.pk,
        transfer.kind,
        transfer.amount,
        transfer.debit_account_id,
        transfer.credit_account_id,
    )
    return transfer


def transfer_reverse(*, transfer: Transfer, memo: str = "", created_by_id: int | None = None) -> Transfer:
    """Post the correcting transfer for `transfer`: same amount, opposite direction, linked.

    A transfer is reversed at most once (the database holds a unique link); reversing it again
    returns the first reversal. Raises InsufficientFunds when the credited user no longer has
    the amount available, AlreadyReversed on a reversal that would conflict.

    The reversal carries the original's cause as stored (type and id), without loading it: a
    cause row deleted since would otherwise drop the link and change the retry's fingerprint.
    """
    existing = Transfer.objects.filter(reverses=transfer).first()
    if existing is not None:
        return existing
    accounts = Account.objects.in_bulk([transfer.debit_account_id, transfer.credit_account_id])
    return _post(
        from_account=accounts[transfer.credit_account_id],
        to_account=accounts[transfer.debit_account_id],
        amount=transfer.amount,
        kind=TransferKind.REVERSAL.value,
        idempotency_key=f"reversal:{transfer.pk}",
        memo=memo or f"Reversal of transfer #{transfer.pk}",
        created_by_id=created_by_id,
        reverses_id=transfer.pk,
        reversed_kind=transfer.kind,
        cause_type_id=transfer.cause_type_id,
        cause_id=transfer.cause_id,
    )
