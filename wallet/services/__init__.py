"""The only code that changes a balance.

Every money operation here:

- takes keyword-only arguments and integer minor units (convert `Decimal` at the edge with
  `Currency.to_minor`);
- locks the user accounts it touches with `SELECT … FOR NO KEY UPDATE`, in primary-key order,
  and checks funds under that lock (on PostgreSQL a transfer is one call of the PL/pgSQL
  function `wallet_transfer_post`, migration 0011, which locks, checks and writes: one round trip
  before COMMIT; `transfers_post_batch` posts several in one call);
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

Modules: `transfers` (post, reverse), `batches` (several transfers in one call), `holds` (place,
capture, release, expire), `adjustments` (maker-checker), `member_holds` (members on hold for
review, and what that does to money in flight), `credits` (expiring promotional credits,
categorising old balances), and the private `_lots` (credit categories moving with each
balance), `_common` (lookups, checks, locks) and `_rows` (writing a transfer's rows). Callers
use this package: `from wallet import services`.
"""

from ._common import MAX_AMOUNT, system_account, user_account
from .adjustments import adjustment_approve, adjustment_reject, adjustment_request
from .batches import TransferSpec, transfers_post_batch
from .credits import credits_announce_expiring, credits_categorise_existing, credits_expire
from .holds import hold_capture, hold_place, hold_release, holds_expire
from .member_holds import member_clear, member_hold
from .transfers import transfer_post, transfer_reverse

__all__ = [
    "MAX_AMOUNT",
    "TransferSpec",
    "adjustment_approve",
    "adjustment_reject",
    "adjustment_request",
    "credits_announce_expiring",
    "credits_categorise_existing",
    "credits_expire",
    "hold_capture",
    "hold_place",
    "hold_release",
    "holds_expire",
    "member_clear",
    "member_hold",
    "system_account",
    "transfer_post",
    "transfer_reverse",
    "transfers_post_batch",
    "user_account",
]
