"""The only code that changes a balance.

Every money operation here:

- takes keyword-only arguments and integer minor units (convert `Decimal` at the edge with
  `Currency.to_minor`);
- locks the user accounts it touches with `SELECT … FOR NO KEY UPDATE`, in primary-key order,
  and checks funds under that lock (on PostgreSQL a transfer between one user account and a
  system account does it in one `UPDATE … WHERE balance - held >= amount` statement that also
  writes the transfer: one row lock, nothing to order, one round trip before COMMIT);
- carries an idempotency key that is unique in the database: the same key with the same
  parameters returns the first result and posts nothing, with other parameters it raises
  `IdempotencyConflict`;
- opens `transaction.atomic()`, so an app service can compose several of them (a payment's
  purchase and bonus) inside its own `atomic(durable=True)` block.

Lock order, everywhere: the caller's domain row (payment, job, redemption) first, then the hold,
then accounts by primary key. Keeping one global order is what rules out deadlocks between, for
example, a capture and a transfer touching the same account.

System accounts are never locked or updated: their balances are sums of their entries. Updating
one issuance or revenue row per transfer would serialise every transfer in the system behind it.
"""

import hashlib
import json
import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone

from .errors import (
    AdjustmentNotAllowed,
    AlreadyReversed,
    CurrencyMismatch,
    HoldNotPending,
    IdempotencyConflict,
    InsufficientFunds,
    InvalidAmount,
)
from .models import (
    Account,
    AdjustmentRequest,
    AdjustmentStatus,
    Currency,
    Entry,
    Hold,
    HoldStatus,
    SystemAccount,
    Transfer,
    TransferKind,
)

logger = logging.getLogger(__name__)

MAX_AMOUNT = 10**15  # far above any real balance; keeps sums well inside BIGINT


# --- accounts -------------------------------------------------------------------------------


def _currency_code(currency: Currency | str | None) -> str:
    if currency is None:
        return settings.GOLDBOOK_CURRENCY_CODE
    return currency if isinstance(currency, str) else currency.code


def user_account(*, user_id: int, currency: Currency | str | None = None) -> Account:
    """The user's account in the currency, created on first use (safe under concurrency)."""
    code = _currency_code(currency)
    account, _ = Account.objects.select_related("currency").get_or_create(user_id=user_id, currency_id=code)
    return account


def system_account(*, name: SystemAccount | str, currency: Currency | str | None = None) -> Account:
    code = _currency_code(currency)
    if name not in SystemAccount.values:
        raise ValueError(f"Unknown system account {name!r}.")
    account, _ = Account.objects.select_related("currency").get_or_create(
        system_name=str(name), currency_id=code, user=None
    )
    return account


# --- helpers --------------------------------------------------------------------------------


def _fingerprint(**params: object) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()


def _cause_fields(cause: models.Model | None) -> dict[str, object]:
    if cause is None:
        return {"cause_type_id": None, "cause_id": ""}
    # get_for_model is served from ContentType's process-wide cache after the first call.
    return {"cause_type_id": ContentType.objects.get_for_model(cause).pk, "cause_id": str(cause.pk)}


def _cause_ref(cause_type_id: int | None, cause_id: str) -> str:
    """The cause as it enters a fingerprint: `app_label.model:pk` (what `_meta.label_lower` gives)."""
    if cause_type_id is None:
        return ""
    ct = ContentType.objects.get_for_id(cause_type_id)
    return f"{ct.app_label}.{ct.model}:{cause_id}"


def _check_key(idempotency_key: str) -> None:
    # An empty key would be "unique" exactly once: every later caller passing "" would be told
    # its operation had already happened (or conflicts), so refuse it outright.
    if not isinstance(idempotency_key, str) or not idempotency_key or len(idempotency_key) > 200:
        raise ValueError("An idempotency key of 1 to 200 characters is required.")


def _check_amount(amount: int) -> None:
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise InvalidAmount("Amounts are integers of minor units.")
    if amount <= 0 or amount > MAX_AMOUNT:
        raise InvalidAmount(f"Amount must be between 1 and {MAX_AMOUNT} minor units.")


_ACCOUNT_FIELDS = [f.attname for f in Account._meta.concrete_fields]
_ACCOUNT_COLUMNS = ", ".join(f.column for f in Account._meta.concrete_fields)


def _lock_user_accounts(account_ids: Iterable[int]) -> dict[int, Account]:
    """Lock the user accounts among these ids, in primary-key order, and return them by id.

    FOR NO KEY UPDATE: it still lets other transactions insert entries that reference the row
    (those take FOR KEY SHARE), so only balance writers queue behind us.
    """
    ids = sorted(set(account_ids))
    # Hand-written rather than the equivalent ORM query: building that query costs more CPU than
    # the database spends answering it, on the path every transfer takes. SQLite has no row
    # locks: its IMMEDIATE transactions already hold the database's write lock.
    features = connection.features
    lock = (
        " FOR NO KEY UPDATE"
        if features.has_select_for_no_key_update
        else (" FOR UPDATE" if features.has_select_for_update else "")
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {_ACCOUNT_COLUMNS} FROM wallet_account"  # noqa: S608 (constant column list)
            f" WHERE id IN ({', '.join(['%s'] * len(ids))}) AND user_id IS NOT NULL ORDER BY id{lock}",
            ids,
        )
        rows = cursor.fetchall()
    return {row[0]: Account.from_db(connection.alias, _ACCOUNT_FIELDS, row) for row in rows}


def _same_or_conflict(existing: Transfer | Hold, fingerprint: str) -> None:
    if existing.fingerprint != fingerprint:
        raise IdempotencyConflict(
            f"Idempotency key {existing.idempotency_key!r} was already used for a different operation."
        )


TRANSFER_COLUMNS = (
    "currency_id",
    "debit_account_id",
    "credit_account_id",
    "amount",
    "kind",
    "memo",
    "idempotency_key",
    "fingerprint",
    "reverses_id",
    "hold_id",
    "cause_type_id",
    "cause_id",
    "created_by_id",
    "created_at",
)


def _transfer_values(
    *, debit: Account, credit: Account, amount: int, now: datetime, fields: dict[str, object]
) -> dict[str, object]:
    """Column values of a new transfer row. `fields` may name links as models (`hold=`) or ids
    (`hold_id=`); what they leave out gets the column's default."""
    values: dict[str, object] = {
        "reverses_id": None,
        "hold_id": None,
        "cause_type_id": None,
        "cause_id": "",
        "created_by_id": None,
        "memo": "",
        **{(f"{k}_id" if k in ("hold", "reverses", "created_by") else k): v for k, v in fields.items()},
        "currency_id": debit.currency_id,
        "debit_account_id": debit.pk,
        "credit_account_id": credit.pk,
        "amount": amount,
        "created_at": now,
    }
    for link in ("hold_id", "reverses_id"):
        if isinstance(values[link], models.Model):
            values[link] = values[link].pk  # type: ignore[attr-defined]
    return values


def _write_transfer(
    *,
    locked: dict[int, Account],
    debit: Account,
    credit: Account,
    amount: int,
    held_release: int = 0,
    **fields: object,
) -> Transfer:
    """Insert the transfer and its two entries and move the locked balances.

    The new balances and versions are computed here, under the row locks the caller holds;
    `held_release` is taken off the debited account's `held` in the same row update (captures).
    A used idempotency key (or reversal link) makes the transfer INSERT raise IntegrityError.
    """
    values = _transfer_values(debit=debit, credit=credit, amount=amount, now=timezone.now(), fields=fields)
    entries: list[tuple[int, int, int | None, int | None]] = []  # account, amount, balance_after, version
    updates: list[Account] = []
    for account, signed in ((debit, -amount), (credit, amount)):
        row = locked.get(account.pk)
        if row is None:  # a system account: balance derived from entries, never locked
            entries.append((account.pk, signed, None, None))
            continue
        row.balance += signed
        row.version += 1
        if signed < 0 and held_release:
            row.held -= held_release
        updates.append(row)
        entries.append((row.pk, signed, row.balance, row.version))
    if connection.vendor == "postgresql":
        transfer_id = _write_rows_postgres(values, entries, updates)
    else:
        transfer_id = _write_rows_orm(values, entries, updates)
    transfer = Transfer(id=transfer_id, **values)
    transfer._state.adding = False
    transfer._state.db = connection.alias
    return transfer


_ROW4 = "(%s::bigint, %s::bigint, %s::bigint, %s::bigint)"
# Built once from constants; every value is a query parameter.
_WRITE_SQL_HEAD = (
    f"WITH t AS (INSERT INTO wallet_transfer ({', '.join(TRANSFER_COLUMNS)})"  # noqa: S608
    f" VALUES ({', '.join(['%s'] * len(TRANSFER_COLUMNS))}) RETURNING id),"
    " e AS (INSERT INTO wallet_entry (transfer_id, account_id, amount, balance_after, account_version, created_at)"
    f" SELECT t.id, v.a, v.m, v.b, v.n, %s FROM t, (VALUES {_ROW4}, {_ROW4}) AS v(a, m, b, n))"
)
_WRITE_SQL = {
    0: _WRITE_SQL_HEAD + " SELECT id FROM t",  # noqa: S608
    **{
        n: _WRITE_SQL_HEAD  # noqa: S608
        + ", u AS (UPDATE wallet_account AS a SET balance = v.b, held = v.h, version = v.n"
        + f" FROM (VALUES {', '.join([_ROW4] * n)}) AS v(id, b, h, n) WHERE a.id = v.id)"
        + " SELECT id FROM t"
        for n in (1, 2)
    },
}


def _single_user_sql(*, debit_is_user: bool) -> str:
    """One statement that locks the user row, checks funds on its latest version, moves the
    balance and writes the transfer and both entries (PostgreSQL).

    The UPDATE waits for the row lock and then re-evaluates its WHERE on the committed row
    (READ COMMITTED's EvalPlanQual), so `balance - held >= amount` is checked under the lock.
    No row updated means nothing was inserted either: the caller falls back to the general
    path, which reports InsufficientFunds (or finds the transfer a retry is asking about).
    """
    change, funds = ("-", " AND balance - held >= %s") if debit_is_user else ("+", "")
    user_amount, other_amount = ("-%s::bigint", "%s::bigint") if debit_is_user else ("%s::bigint", "-%s::bigint")
    return (
        f"WITH u AS (UPDATE wallet_account SET balance = balance {change} %s, version = version + 1"  # noqa: S608
        f" WHERE id = %s AND user_id IS NOT NULL{funds} RETURNING id, balance, version),"
        f" t AS (INSERT INTO wallet_transfer ({', '.join(TRANSFER_COLUMNS)})"
        f" SELECT {', '.join(['%s'] * len(TRANSFER_COLUMNS))} FROM u RETURNING id),"
        " e AS (INSERT INTO wallet_entry (transfer_id, account_id, amount, balance_after, account_version, created_at)"
        f" SELECT t.id, u.id, {user_amount}, u.balance, u.version, %s FROM t, u"
        f" UNION ALL SELECT t.id, %s, {other_amount}, NULL, NULL, %s FROM t)"
        " SELECT t.id FROM t"
    )


_SINGLE_USER_SQL = {True: _single_user_sql(debit_is_user=True), False: _single_user_sql(debit_is_user=False)}


def _post_single_user_postgres(*, debit: Account, credit: Account, amount: int, **fields: object) -> Transfer | None:
    """The fast path for a transfer between one user account and one system account: one round
    trip between taking the row lock and COMMIT, so a hot account's queue moves as fast as the
    server commits. None when nothing was written (funds short, or not such a pair)."""
    debit_is_user = debit.user_id is not None
    user, other = (debit, credit) if debit_is_user else (credit, debit)
    now = timezone.now()
    values = _transfer_values(debit=debit, credit=credit, amount=amount, now=now, fields=fields)
    params: list[object] = [amount, user.pk]
    if debit_is_user:
        params.append(amount)
    params += [values[c] for c in TRANSFER_COLUMNS]
    params += [amount, now, other.pk, amount, now]
    with connection.cursor() as cursor:
        cursor.execute(_SINGLE_USER_SQL[debit_is_user], params)
        row = cursor.fetchone()
    if row is None:
        return None
    transfer = Transfer(id=int(row[0]), **values)
    transfer._state.adding = False
    transfer._state.db = connection.alias
    return transfer


def _write_rows_postgres(
    values: dict[str, object], entries: list[tuple[int, int, int | None, int | None]], updates: list[Account]
) -> int:
    """The transfer, its two entries and the balance updates in ONE statement (data-modifying CTEs).

    The row locks are held from the SELECT … FOR NO KEY UPDATE until COMMIT, so every statement
    in between lengthens the queue on a hot account; this keeps it to one round trip.
    """
    params: list[object] = [values[c] for c in TRANSFER_COLUMNS]
    params.append(values["created_at"])
    for entry in entries:
        params.extend(entry)
    for row in updates:
        params.extend((row.pk, row.balance, row.held, row.version))
    with connection.cursor() as cursor:
        cursor.execute(_WRITE_SQL[len(updates)], params)
        return int(cursor.fetchone()[0])


def _write_rows_orm(
    values: dict[str, object], entries: list[tuple[int, int, int | None, int | None]], updates: list[Account]
) -> int:
    transfer = Transfer.objects.create(**values)
    for row in updates:
        Account.objects.filter(pk=row.pk).update(balance=row.balance, held=row.held, version=row.version)
    Entry.objects.bulk_create(
        Entry(
            transfer_id=transfer.pk,
            account_id=account_id,
            amount=signed,
            balance_after=after,
            account_version=version,
            created_at=values["created_at"],
        )
        for account_id, signed, after, version in entries
    )
    return int(transfer.pk)


# --- transfers ------------------------------------------------------------------------------


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

    Raises InvalidAmount, CurrencyMismatch, InsufficientFunds, IdempotencyConflict,
    AlreadyReversed.
    """
    if reverses is not None and (
        from_account.pk != reverses.credit_account_id
        or to_account.pk != reverses.debit_account_id
        or amount > reverses.amount
    ):
        raise InvalidAmount(
            f"A reversal of transfer #{reverses.pk} must swap its accounts and move at most its amount."
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
        **_cause_fields(cause),  # type: ignore[arg-type]
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
) -> Transfer:
    _check_amount(amount)
    _check_key(idempotency_key)
    if from_account.currency_id != to_account.currency_id:
        raise CurrencyMismatch("Both accounts of a transfer must be in one currency.")
    if from_account.pk == to_account.pk:
        raise InvalidAmount("A transfer needs two different accounts.")
    fingerprint = _fingerprint(
        op="transfer",
        debit=from_account.pk,
        credit=to_account.pk,
        amount=amount,
        kind=kind,
        cause=_cause_ref(cause_type_id, cause_id),
        reverses=reverses_id,
    )
    fields = dict(
        kind=kind,
        memo=memo[:255],
        idempotency_key=idempotency_key,
        fingerprint=fingerprint,
        reverses_id=reverses_id,
        created_by_id=created_by_id,
        cause_type_id=cause_type_id,
        cause_id=cause_id,
    )
    single_user = (from_account.user_id is None) != (to_account.user_id is None)
    try:
        with transaction.atomic():
            transfer = None
            if single_user and connection.vendor == "postgresql":
                transfer = _post_single_user_postgres(debit=from_account, credit=to_account, amount=amount, **fields)
            if transfer is None:
                locked = _lock_user_accounts([from_account.pk, to_account.pk])
                # No look-up of the key before writing: the unique index answers a reused key
                # (the INSERT raises, handled below), which saves a round trip under the lock.
                # Only when funds look short do we ask first: a retry of a transfer that already
                # spent the money must get that transfer back, not InsufficientFunds.
                debit_row = locked.get(from_account.pk)
                if debit_row is not None and debit_row.available < amount:
                    existing = Transfer.objects.filter(idempotency_key=idempotency_key).first()
                    if existing is not None:
                        _same_or_conflict(existing, fingerprint)
                        return existing
                    raise InsufficientFunds(available=debit_row.available, required=amount)
                transfer = _write_transfer(
                    locked=locked, debit=from_account, credit=to_account, amount=amount, **fields
                )
    except IntegrityError:
        # The key (or the reversal link) is taken: a retry, a concurrent caller with the same key
        # (the unique index made us wait for its commit), or a conflict. The atomic block rolled
        # back to its savepoint (or the whole transaction), so nothing of ours was written.
        existing = Transfer.objects.filter(idempotency_key=idempotency_key).first()
        if existing is None:
            if reverses_id is not None and Transfer.objects.filter(reverses_id=reverses_id).exists():
                raise AlreadyReversed(f"Transfer #{reverses_id} was already reversed.") from None
            raise
        _same_or_conflict(existing, fingerprint)
        return existing
    return _posted(transfer)


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
        cause_type_id=transfer.cause_type_id,
        cause_id=transfer.cause_id,
    )


# --- holds ----------------------------------------------------------------------------------


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

    Raises InvalidAmount (also for a system account), InsufficientFunds, IdempotencyConflict.
    """
    _check_amount(amount)
    _check_key(idempotency_key)
    if account.is_system:
        raise InvalidAmount("Holds are placed on user accounts only.")
    cause_fields = _cause_fields(cause)
    fingerprint = _fingerprint(
        op="hold",
        account=account.pk,
        amount=amount,
        kind=str(kind),
        cause=_cause_ref(cause_fields["cause_type_id"], cause_fields["cause_id"]),  # type: ignore[arg-type]
    )
    expires_at = expires_at or timezone.now() + timedelta(seconds=settings.GOLDBOOK_HOLD_TTL_SECONDS)
    try:
        with transaction.atomic():
            row = _lock_user_accounts([account.pk])[account.pk]
            existing = Hold.objects.filter(idempotency_key=idempotency_key).first()
            if existing is not None:
                _same_or_conflict(existing, fingerprint)
                return existing
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
    account returns that capture. Capturing 0 releases the hold and returns None (also when the
    hold is already released or expired, like `hold_release`).
    Raises HoldNotPending (captured for another amount or account; a capture > 0 of a released
    or expired hold), InvalidAmount, CurrencyMismatch.
    """
    if not isinstance(amount, int) or isinstance(amount, bool) or amount < 0:
        raise InvalidAmount("A capture is a whole, non-negative number of minor units.")
    with transaction.atomic():
        hold = _lock_hold(hold_id)  # holds before accounts: the global lock order
        if hold.status == HoldStatus.CAPTURED and hold.captured_amount == amount:
            capture = Transfer.objects.filter(hold=hold).first()
            if capture is not None and capture.credit_account_id == to_account.pk:
                return capture
        if amount == 0 and hold.status in (HoldStatus.RELEASED, HoldStatus.EXPIRED):
            return None
        if hold.status != HoldStatus.PENDING:
            raise HoldNotPending(f"Hold #{hold.pk} is {hold.status}.")
        if amount > hold.amount:
            raise InvalidAmount(f"Capture must be between 0 and {hold.amount}.")
        if amount == 0:
            _hold_resolve(hold, HoldStatus.RELEASED)
            return None
        if to_account.pk == hold.account_id:
            raise InvalidAmount("A hold is captured into another account than the one it is on.")
        if to_account.currency_id != hold.account.currency_id:
            raise CurrencyMismatch("A hold is captured in its own currency.")
        locked = _lock_user_accounts([hold.account_id, to_account.pk])
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
            raise HoldNotPending(f"Hold #{hold.pk} is {hold.status}.")
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
            expired += 1
    return expired


# --- manual adjustments (maker-checker) ---------------------------------------------------------


def _require_staff_perm(user_id: int, perm: str, action: str) -> None:
    """Maker-checker is enforced here, not only in the admin: any caller of these services
    (a shell, a future API) gets the same rule."""
    user = get_user_model().objects.filter(pk=user_id, is_active=True, is_staff=True).first()
    if user is None or not user.has_perm(perm):
        raise AdjustmentNotAllowed(f"Only staff with the {perm!r} permission may {action}.")


def adjustment_request(*, account: Account, amount: int, reason: str, requested_by_id: int) -> AdjustmentRequest:
    """Record a staff request to credit (amount > 0) or debit (amount < 0) a user account.

    Nothing is posted until a different staff user approves it.
    Raises InvalidAmount, AdjustmentNotAllowed (system account, no reason, requester lacks
    `wallet.request_adjustment`).
    """
    if not isinstance(amount, int) or isinstance(amount, bool) or amount == 0 or abs(amount) > MAX_AMOUNT:
        raise InvalidAmount("An adjustment is a non-zero number of minor units.")
    if account.is_system:
        raise AdjustmentNotAllowed("Adjustments apply to user accounts.")
    if not reason.strip():
        raise AdjustmentNotAllowed("An adjustment needs a reason.")
    _require_staff_perm(requested_by_id, "wallet.request_adjustment", "request an adjustment")
    return AdjustmentRequest.objects.create(
        account=account, amount=amount, reason=reason.strip(), requested_by_id=requested_by_id
    )


def adjustment_approve(*, request_id: int, approver_id: int, note: str = "") -> AdjustmentRequest:
    """Approve a pending adjustment and post it (issuance ↔ user).

    Raises AdjustmentNotAllowed (decided already, approver is the requester or lacks
    `wallet.approve_adjustment`), InsufficientFunds for a debit larger than what the user has
    available (the request then stays pending).
    """
    _require_staff_perm(approver_id, "wallet.approve_adjustment", "approve an adjustment")
    with transaction.atomic(durable=True):
        req = AdjustmentRequest.objects.select_for_update(no_key=True).select_related("account").get(pk=request_id)
        if req.status != AdjustmentStatus.REQUESTED:
            raise AdjustmentNotAllowed(f"Adjustment #{req.pk} was already {req.status}.")
        if req.requested_by_id == approver_id:
            raise AdjustmentNotAllowed("A different staff member must approve an adjustment.")
        issuance = system_account(name=SystemAccount.ISSUANCE, currency=req.account.currency_id)
        source, target = (issuance, req.account) if req.amount > 0 else (req.account, issuance)
        transfer = transfer_post(
            from_account=source,
            to_account=target,
            amount=abs(req.amount),
            kind=TransferKind.ADJUSTMENT,
            idempotency_key=f"adjustment:{req.pk}",
            memo=req.reason[:255],
            cause=req,
            created_by_id=approver_id,
        )
        req.status = AdjustmentStatus.APPROVED
        req.decided_by_id = approver_id
        req.decided_at = timezone.now()
        req.decision_note = note[:255]
        req.transfer = transfer
        req.save(update_fields=["status", "decided_by", "decided_at", "decision_note", "transfer"])
    return req


def adjustment_reject(*, request_id: int, approver_id: int, note: str = "") -> AdjustmentRequest:
    """Reject a pending adjustment; nothing is posted. Raises AdjustmentNotAllowed as approve does."""
    _require_staff_perm(approver_id, "wallet.approve_adjustment", "reject an adjustment")
    with transaction.atomic(durable=True):
        req = AdjustmentRequest.objects.select_for_update(no_key=True).get(pk=request_id)
        if req.status != AdjustmentStatus.REQUESTED:
            raise AdjustmentNotAllowed(f"Adjustment #{req.pk} was already {req.status}.")
        if req.requested_by_id == approver_id:
            raise AdjustmentNotAllowed("A different staff member must decide on an adjustment.")
        req.status = AdjustmentStatus.REJECTED
        req.decided_by_id = approver_id
        req.decided_at = timezone.now()
        req.decision_note = note[:255]
        req.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
    return req
