"""Posting several transfers at once (issue 14): a purchase and its bonus, a capture and a release,
the awards of an intake run. All or nothing, with the guarantees of `transfer_post` for each."""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connection, models, transaction
from django.utils import timezone

from ..lots import expiry_days
from ..models import Account, Transfer, TransferKind
from ._common import _balances_changed, _cause_fields, _hold_applies
from ._rows import FunctionCall, call_post_batch, function_call
from .transfers import _checked, _function_result, _post


@dataclass(frozen=True, kw_only=True)
class TransferSpec:
    """One transfer of a batch: `transfer_post`'s arguments (a reversal is posted on its own)."""

    from_account: Account
    to_account: Account
    amount: int
    kind: TransferKind | str
    idempotency_key: str
    memo: str = ""
    cause: models.Model | None = None
    created_by_id: int | None = None
    credit_source: str | None = None
    payer: Account | None = None


def transfers_post_batch(*, transfers: Sequence[TransferSpec]) -> list[Transfer]:
    """Post these transfers in order, in one transaction (a savepoint inside the caller's):
    every one or none. Returns them in order; a transfer whose key was used before with the same
    parameters is returned as it was (a retried batch posts nothing twice).

    On PostgreSQL one call of `wallet_transfers_post_batch` (migration 0011) locks every user
    account of the batch in id order, then checks and writes each transfer as `transfer_post`
    does; SQLite (and a batch with a credit that opens an expiring lot) posts them one by one.
    Raises what `transfer_post` raises, for the first transfer that fails.
    """
    if not transfers:
        return []
    kwargs = [_arguments(spec) for spec in transfers]
    if connection.vendor != "postgresql" or any(_expiring(spec) for spec in transfers):
        return _one_by_one(kwargs)
    now = timezone.now()
    calls: list[FunctionCall] = []
    fingerprints: list[str] = []
    for spec, kw in zip(transfers, kwargs, strict=True):
        fingerprint, fields = _checked(**{k: v for k, v in kw.items() if k not in ("lot_source", "payer")})
        fingerprints.append(fingerprint)
        calls.append(
            function_call(
                debit=spec.from_account,
                credit=spec.to_account,
                amount=spec.amount,
                payer_id=spec.payer.pk if spec.payer is not None else None,
                guard=_hold_applies(kind=str(spec.kind), reversed_kind=None),
                now=now,
                lot_source=spec.credit_source,
                **fields,
            )
        )
    try:
        with transaction.atomic():
            _balances_changed(*(a for spec in transfers for a in (spec.from_account, spec.to_account)))
            rows = call_post_batch(calls, now)
            # The rows stop at the first refusal, whose result raises (rolling the batch back).
            posted = [_function_result(c, r, f) for c, r, f in zip(calls, rows, fingerprints, strict=False)]
            if len(posted) != len(calls):
                raise IntegrityError("wallet_transfers_post_batch answered fewer rows than transfers.")
    except IntegrityError:
        # A key taken concurrently (the unique index made us wait for its commit): nothing of the
        # batch was written; posting one by one sorts out each key as `transfer_post` does.
        return _one_by_one(kwargs)
    return posted


def _arguments(spec: TransferSpec) -> dict[str, Any]:
    return dict(
        from_account=spec.from_account,
        to_account=spec.to_account,
        amount=spec.amount,
        kind=str(spec.kind),
        idempotency_key=spec.idempotency_key,
        memo=spec.memo,
        created_by_id=spec.created_by_id,
        reverses_id=None,
        lot_source=spec.credit_source,
        payer=spec.payer,
        **_cause_fields(spec.cause),
    )


def _expiring(spec: TransferSpec) -> bool:
    """A credit to a member that opens an expiring lot (moved in Python, after its transfer)."""
    return spec.to_account.user_id is not None and expiry_days(spec.credit_source or str(spec.kind)) is not None


def _one_by_one(kwargs: list[dict[str, Any]]) -> list[Transfer]:
    with transaction.atomic():
        return [_post(**kw) for kw in kwargs]
