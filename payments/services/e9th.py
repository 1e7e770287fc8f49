"""E9th stablecoin deposits: claim a transaction hash, check its receipt, credit it once.

A claim must come from the member's linked wallet (see `wallet_linking`). No outbound call is
made while a payment row is locked: the receipt is read first and re-checked right before the
crediting transaction, so a chain reorganisation between the two is noticed.
"""

import logging
from dataclasses import dataclass
from datetime import timedelta
from enum import StrEnum

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User
from wallet.selectors import Balance, balance_for_user

from .. import selectors
from ..errors import (
    ChainUnavailable,
    ClaimRejected,
    HashClaimed,
    InvalidPurchase,
    KeyReused,
    MethodUnavailable,
    PackageNotFound,
    WalletNotLinked,
)
from ..models import CreditPackage, Payment, PaymentStatus, Provider
from ..providers import e9th
from ._state import durable, lock_payment, save_payment
from .completion import complete_locked
from .e9th_claims import (
    create_chain_claim,
    hold_for_review,
    mark_open,
    release_claim,
    store_receipt_message,
    token_units_for,
)
from .quotes import Quote, check_limits, package_quote, payment_quote

logger = logging.getLogger(__name__)

S = PaymentStatus


def e9th_client(*, budget: float | None = None) -> e9th.Client:
    return e9th.Client(budget=budget)  # budget: seconds for all its calls together (a request)


_decimals_cache: dict[str, int] = {}


def _token_decimals(client: e9th.Client) -> int:
    if settings.E9TH_TOKEN_DECIMALS is not None:
        return int(settings.E9TH_TOKEN_DECIMALS)
    token = settings.E9TH_TOKEN_ADDRESS.lower()
    if token not in _decimals_cache:
        _decimals_cache[token] = client.token_decimals(token)
    return _decimals_cache[token]


def e9th_token_decimals(*, client: e9th.Client | None = None) -> int | None:
    """The token's decimals: E9TH_TOKEN_DECIMALS, else read from the contract (cached per token).
    None when unset and the chain cannot tell us (the page then shows no token amount, never a
    guessed 18-decimal one)."""
    if settings.E9TH_TOKEN_DECIMALS is None and not (settings.E9TH_RPC_URL and settings.E9TH_TOKEN_ADDRESS):
        return None
    try:
        return _token_decimals(client or e9th_client(budget=settings.E9TH_REQUEST_BUDGET_SECONDS))
    except e9th.ChainUnavailable as exc:
        logger.warning("E9th token decimals unavailable: %s", exc)
        return None


class ChainStatus(StrEnum):
    """What a look at a chain deposit found."""

    CONFIRMED = "confirmed"  # credited just now
    ALREADY_CREDITED = "already_credited"
    PENDING = "pending"  # not mined, too few confirmations, or the block changed
    REJECTED = "rejected"  # the receipt fails a check (the poller's view; a claim raises instead)
    FAILED = "failed"  # no receipt within the time limit: the claim was released
    CLOSED = "closed"  # nothing to look at: completed, refunded or released before
    REVIEW = "review"  # seen in a block, then no receipt within the time limit: held for staff


@dataclass
class ChainOutcome:
    status: ChainStatus
    payment: Payment
    confirmations: int = 0
    required: int = 0
    message: str = ""
    balance: Balance | None = None  # read in the crediting transaction: no read after commit
    mined: bool = True  # False: the node has no receipt for the hash (not mined, or reorged away)


def _e9th_settings_ok() -> None:
    if not (settings.E9TH_RPC_URL and settings.E9TH_TOKEN_ADDRESS and settings.E9TH_DEPOSIT_ADDRESS):
        raise MethodUnavailable(_("E9th deposits are not configured on this site."))


PURCHASE_SCOPE = "purchase:"


def _key_matches(*, user: User, key: str | None, tx: str, package_id: int) -> None:
    """A claim's Idempotency-Key names one transaction and one package. The chain hash is what
    makes a claim idempotent (one hash, one credit); the key only refuses a reused key."""
    if key is None:
        return
    earlier = Payment.objects.filter(user=user, idempotency_key=key).first()
    if earlier is not None and (earlier.reference != tx or earlier.package_id != package_id):
        raise KeyReused(_("This Idempotency-Key was used to claim another deposit."), transaction_id=earlier.pk)


def e9th_purchase(
    *,
    user: User,
    package_id: int,
    tx_hash: str,
    wallet_address: str,
    client: e9th.Client | None = None,
    idempotency_key: str | None = None,
) -> ChainOutcome:
    """Claim an on-chain E9th stablecoin deposit for a package.

    Checks, in order: hash and address well formed (InvalidPurchase, 400); the wallet is the
    caller's linked one (WalletNotLinked, 403); the hash is not pending or credited for someone
    else (HashClaimed, 409); the receipt passes every check (ClaimRejected, 422 with the
    reason; a rejected claim reserves nothing); an idempotency key names this hash and package
    (KeyReused, 409). Then: not mined or too few confirmations → pending (202); enough →
    re-check the receipt (same block hash) and credit once.
    """
    tx = e9th.normalise_hash(tx_hash)
    address = e9th.normalise_address(wallet_address)
    if tx is None:
        raise InvalidPurchase(_("tx_hash must be 0x followed by 64 hex digits."))
    if address is None:
        raise InvalidPurchase(_("wallet_address must be 0x followed by 40 hex digits."))
    linked = selectors.linked_wallet(user_id=user.pk)
    if linked is None or linked.address != address:
        raise WalletNotLinked(_("This wallet is not linked to your account. Link it first by signing the challenge."))
    client = client or e9th_client(budget=settings.E9TH_REQUEST_BUDGET_SECONDS)
    key = PURCHASE_SCOPE + idempotency_key if idempotency_key else None
    _key_matches(user=user, key=key, tx=tx, package_id=package_id)
    existing = Payment.objects.filter(provider=Provider.E9TH, reference=tx).first()
    if existing is not None and existing.user_id != user.pk and existing.status not in (S.COMPLETED, S.REFUNDED):
        # Someone else's open claim: check it now, so an impostor who claimed the hash before
        # it was mined is thrown out the moment the receipt shows the real sender.
        e9th_recheck(payment_id=existing.pk, client=client)
        existing = Payment.objects.filter(provider=Provider.E9TH, reference=tx).first()
    if existing is not None and existing.user_id != user.pk:
        raise HashClaimed(_("This transaction was already claimed by another account."))
    if existing is not None and existing.status in (S.COMPLETED, S.REFUNDED):
        return ChainOutcome(ChainStatus.ALREADY_CREDITED, existing)
    _e9th_settings_ok()
    if existing is None:
        package = CreditPackage.objects.filter(pk=package_id, active=True).first()
        if package is None:
            raise PackageNotFound(_("There is no active package #%(id)s.") % {"id": package_id})
        check_limits(user_id=user.pk, usd_cents=package.usd_cents, now=timezone.now())
        quote_ = package_quote(package)
    else:
        quote_ = payment_quote(existing)
    return _e9th_evaluate(user=user, tx=tx, address=address, quote_=quote_, existing=existing, client=client, key=key)


def _e9th_evaluate(
    *,
    user: User,
    tx: str,
    address: str,
    quote_: Quote,
    existing: Payment | None,
    client: e9th.Client,
    key: str | None = None,
) -> ChainOutcome:
    """Read the receipt, check it, then mark the claim pending/confirming or credit it.
    Raises ChainUnavailable, ClaimRejected (after releasing an existing claim), HashClaimed."""
    required = settings.E9TH_MIN_CONFIRMATIONS
    try:
        receipt = client.receipt(tx)
        latest = client.block_number() if receipt else 0
        decimals = _token_decimals(client)
    except e9th.ChainUnavailable as exc:
        raise ChainUnavailable(_("The E9th chain node is not answering: %(reason)s") % {"reason": exc}) from exc
    if receipt is not None:
        _check_receipt(tx, receipt, existing, min_value=token_units_for(quote_.usd_cents, decimals), address=address)
    payment = existing or create_chain_claim(
        user=user, tx=tx, address=address, quote_=quote_, decimals=decimals, key=key
    )
    if receipt is None:
        locked = mark_open(payment.pk, S.PENDING, "Waiting for the transaction to be mined.")
        return ChainOutcome(
            ChainStatus.PENDING,
            locked,
            0,
            required,
            "The transaction is not mined yet. We will credit it once it is confirmed.",
            mined=False,
        )
    confirms = e9th.confirmations(latest_block=latest, receipt=receipt)
    store_receipt_message(tx, receipt, payment, verified=True)
    if confirms < required:
        return _not_yet_confirmed(payment.pk, receipt, confirms=confirms, required=required)
    # Right before crediting, the receipt's block (and the block stored when we first saw it)
    # must be the canonical chain's block at that height: a reorg may have orphaned it.
    try:
        orphaned = _orphaned(client, receipt, existing)
    except e9th.ChainUnavailable as exc:
        raise ChainUnavailable(_("The E9th chain node is not answering: %(reason)s") % {"reason": exc}) from exc
    if orphaned:
        logger.warning("Payment #%s: block of %s is not canonical (reorg); not credited yet", payment.pk, tx)
        locked = mark_open(
            payment.pk,
            S.CONFIRMING,
            "The block changed (chain reorganisation); waiting for confirmations again.",
            block_hash="",
            confirmations=0,
        )
        return ChainOutcome(
            ChainStatus.PENDING,
            locked,
            0,
            required,
            "The chain reorganised; waiting for the transaction to confirm again.",
        )
    return _credit(payment.pk, receipt, confirms=confirms, required=required)


def _orphaned(client: e9th.Client, receipt: e9th.Receipt, existing: Payment | None) -> bool:
    """Whether the receipt's block, or the block stored on the claim, is no longer the canonical
    block at its height (compared with the chain, not with a second read of the receipt)."""
    seen = {receipt.block_number: receipt.block_hash.lower()}
    if existing is not None and existing.block_number is not None and existing.block_hash:
        if seen.setdefault(existing.block_number, existing.block_hash.lower()) != existing.block_hash.lower():
            return True  # the transaction moved to another block at the same height
    return any(client.block_hash_at(number) != block_hash for number, block_hash in seen.items())


def _check_receipt(tx: str, receipt: e9th.Receipt, existing: Payment | None, *, min_value: int, address: str) -> None:
    """Raise ClaimRejected (storing the receipt, releasing an existing claim) unless the receipt is
    a successful transfer of at least `min_value` of the token from `address` to our address."""
    try:
        e9th.check_deposit(
            receipt,
            token=settings.E9TH_TOKEN_ADDRESS,
            sender=address,
            recipient=settings.E9TH_DEPOSIT_ADDRESS,
            min_value=min_value,
        )
    except e9th.ReceiptRejected as exc:
        store_receipt_message(tx, receipt, existing, verified=False, error=str(exc))
        if existing is not None:
            release_claim(existing.pk, str(exc))
        message = _(exc.template) % exc.params if exc.params else _(exc.template)
        raise ClaimRejected(message, reason=str(exc)) from exc


def _not_yet_confirmed(payment_id: int, receipt: e9th.Receipt, *, confirms: int, required: int) -> ChainOutcome:
    locked = mark_open(
        payment_id,
        S.CONFIRMING,
        f"{confirms} of {required} confirmations.",
        block_number=receipt.block_number,
        block_hash=receipt.block_hash,
        confirmations=confirms,
    )
    if locked.status == S.COMPLETED:
        return ChainOutcome(ChainStatus.ALREADY_CREDITED, locked)
    return ChainOutcome(
        ChainStatus.PENDING,
        locked,
        confirms,
        required,
        f"{confirms} of {required} confirmations so far. Your credits arrive once it is confirmed.",
    )


def _credit(payment_id: int, receipt: e9th.Receipt, *, confirms: int, required: int) -> ChainOutcome:
    def run() -> tuple[Payment, bool, Balance]:
        locked = lock_payment(payment_id)
        if locked.status == S.COMPLETED:
            return locked, False, balance_for_user(user_id=locked.user_id)
        locked.block_number, locked.block_hash, locked.confirmations = (
            receipt.block_number,
            receipt.block_hash,
            confirms,
        )
        done = complete_locked(locked, detail=f"{confirms} confirmations in block {receipt.block_number}.")
        if not done:
            save_payment(locked)
        return locked, done, balance_for_user(user_id=locked.user_id)

    credited, done, balance = durable(run)
    if credited.status != S.COMPLETED:
        return ChainOutcome(ChainStatus.PENDING, credited, confirms, required, credited.status_detail)
    status = ChainStatus.CONFIRMED if done else ChainStatus.ALREADY_CREDITED
    return ChainOutcome(status, credited, confirms, required, balance=balance)


def e9th_recheck(*, payment_id: int, client: e9th.Client | None = None) -> ChainOutcome:
    """The poller's look at a pending chain deposit: credit it once confirmed. With no receipt
    E9TH_PENDING_TIMEOUT_MINUTES after the claim: a hash never seen mined fails (the claim is
    released); one seen in a block that has since left the chain is held for staff review
    (`needs_review`, flagged), so it is not polled forever."""
    payment = Payment.objects.select_related("user").get(pk=payment_id)
    if payment.status in (S.COMPLETED, S.REFUNDED) or not payment.reference:
        return ChainOutcome(ChainStatus.CLOSED, payment)
    client = client or e9th_client()
    quote_ = payment_quote(payment)
    try:
        outcome = _e9th_evaluate(
            user=payment.user,
            tx=payment.reference,
            address=payment.wallet_address,
            quote_=quote_,
            existing=payment,
            client=client,
        )
    except ClaimRejected as exc:
        return ChainOutcome(ChainStatus.REJECTED, payment, message=exc.message)
    deadline = payment.created_at + timedelta(minutes=settings.E9TH_PENDING_TIMEOUT_MINUTES)
    if outcome.status is not ChainStatus.PENDING or outcome.mined or timezone.now() <= deadline:
        return outcome
    if payment.block_number is None:
        release_claim(payment.pk, "No receipt for this transaction within the time limit.")
        outcome.payment.refresh_from_db()
        return ChainOutcome(ChainStatus.FAILED, outcome.payment, message="No receipt within the time limit.")
    # Seen in a block once, gone since (a reorg dropped it): staff decide, the poller stops.
    held = hold_for_review(payment.pk, "The transaction left the chain after it was seen in a block; held for review.")
    return ChainOutcome(ChainStatus.REVIEW, held, message=held.status_detail)
