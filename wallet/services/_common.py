"""Shared by the wallet services: account lookups, argument checks, fingerprints, row locks."""

import hashlib
import json
import logging
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import connection, models
from django.utils.translation import gettext as _

from core.events import Event, record

from ..errors import (
    IdempotencyConflict,
    InvalidAmount,
)
from ..models import (
    Account,
    Currency,
    Hold,
    MemberHold,
    MemberHoldAction,
    SystemAccount,
    Transfer,
    TransferKind,
)

logger = logging.getLogger(__name__)

MAX_AMOUNT = 10**15  # far above any real balance; keeps sums well inside BIGINT


def _currency_code(currency: Currency | str | None) -> str:
    if currency is None:
        return settings.GOLDBOOK_CURRENCY_CODE
    return currency if isinstance(currency, str) else currency.code


def user_account(*, user_id: int, currency: Currency | str | None = None) -> Account:
    """The user's account in the currency, created on first use (safe under concurrency)."""
    code = _currency_code(currency)
    account, _ = Account.objects.select_related("currency").get_or_create(
        user_id=user_id,
        currency_id=code,
        # Read only when the account is created: a member on hold gets a new currency's account frozen.
        defaults={"frozen": lambda: _on_hold(user_id)},
    )
    return account


def _on_hold(user_id: int) -> bool:
    """Whether the member's latest hold decision is a hold (the history behind `Account.frozen`)."""
    latest = MemberHold.objects.filter(user_id=user_id).order_by("-id").values_list("action", flat=True).first()
    return latest == MemberHoldAction.HOLD


# What a member on hold may still be debited (wallet/member_holds.py): staff corrections and
# expiries, and claw-backs of credits other than their purchases (a reversal of a purchase or of
# its bonus is a refund, money going back out to the member: it waits for the clearance).
_HOLD_EXEMPT_KINDS = frozenset({TransferKind.ADJUSTMENT.value, TransferKind.EXPIRY.value})
_REFUND_OF = frozenset({TransferKind.PURCHASE.value, TransferKind.BONUS.value})


def _hold_applies(*, kind: str, reversed_kind: str | None) -> bool:
    """Whether a debit of this kind is refused when the debited member is on hold."""
    if kind in _HOLD_EXEMPT_KINDS:
        return False
    if reversed_kind is not None:
        return reversed_kind in _REFUND_OF
    # An unlinked reversal recovers a debt (rewards' clawed-back awards): a claw-back too.
    return kind != TransferKind.REVERSAL.value


def system_account(*, name: SystemAccount | str, currency: Currency | str | None = None) -> Account:
    code = _currency_code(currency)
    if name not in SystemAccount.values:
        raise ValueError(f"Unknown system account {name!r}.")
    account, _ = Account.objects.select_related("currency").get_or_create(
        system_name=str(name), currency_id=code, user=None
    )
    return account


def _fingerprint(**params: object) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()


def _cause_fields(cause: models.Model | None) -> dict[str, Any]:
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
        raise InvalidAmount(_("Amounts are integers of minor units."))
    if amount <= 0 or amount > MAX_AMOUNT:
        raise InvalidAmount(_("Amount must be between 1 and %(max)s minor units.") % {"max": MAX_AMOUNT})


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
            _("Idempotency key “%(key)s” was already used for a different operation.")
            % {"key": existing.idempotency_key}
        )


def _balances_changed(*accounts: Account) -> None:
    """Record, in the caller's transaction, that these accounts' members see new figures: after
    commit their open pages are told (a LIVE event: no row written, nothing added under the
    account locks); a rollback drops it."""
    user_ids = sorted({a.user_id for a in accounts if a.user_id is not None})
    if user_ids:
        record(Event.BALANCE_CHANGED, {"user_ids": user_ids})
