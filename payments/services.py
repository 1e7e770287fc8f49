"""Writes for payments: checkout, provider messages, crediting, chain deposits, refunds.

Every credit goes through `_complete_locked`, inside one `transaction.atomic(durable=True)` with
the payment row locked (`SELECT … FOR NO KEY UPDATE`): status to `completed`, a `purchase`
transfer (issuance → user, base credits) and a `bonus` transfer (promotions → user), with
idempotency keys `payment:<id>:purchase` / `payment:<id>:bonus`. Whoever gets the lock first
(IPN, poller, a user resubmitting) credits; the others find the payment completed and stop.

Lock order: the payment row first, then the wallet's accounts (wallet.services locks those).
No outbound HTTP call is ever made while a payment row is locked: provider calls happen before
the transaction opens, and chain receipts are re-checked right before it.
"""

import datetime as dt
import hashlib
import json
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.core.mail import send_mail
from django.db import IntegrityError, OperationalError, transaction
from django.db.models import Sum
from django.urls import reverse
from django.utils import timezone

from accounts.models import User
from wallet import services as wallet
from wallet.errors import InsufficientFunds
from wallet.models import SystemAccount, Transfer, TransferKind
from wallet.selectors import balance_for_user, default_currency

from . import selectors
from .errors import (
    AmountOutOfRange,
    ClaimRejected,
    HashClaimed,
    InvalidPurchase,
    MethodUnavailable,
    PackageNotFound,
    ProviderFailed,
    PurchaseLimitReached,
    RefundNotAllowed,
    RefundShortfall,
    TransientFailure,
    UnsupportedCoin,
    WalletLinkFailed,
    WalletNotLinked,
    WalletTaken,
)
from .errors import ChainUnavailable as ChainUnavailableError
from .models import (
    CreditPackage,
    LegacyConversion,
    LinkedWallet,
    Payment,
    PaymentStatus,
    Provider,
    ProviderMessage,
    RefundRequest,
    RefundStatus,
    WalletChallenge,
)
from .providers import coinpayments as cp
from .providers import e9th

logger = logging.getLogger(__name__)

S = PaymentStatus
COUNTED_STATUSES = [S.PENDING, S.CONFIRMING, S.COMPLETED, S.UNDERPAID, S.NEEDS_REVIEW]
DEMO_TTL = timedelta(hours=1)
CHALLENGE_TTL = timedelta(minutes=15)


# --- quotes and limits ------------------------------------------------------------------------


@dataclass(frozen=True)
class Quote:
    package: CreditPackage | None
    name: str
    usd_cents: int
    base_credits: int
    bonus_credits: int


def _usd_to_cents(amount: Decimal) -> int:
    if not isinstance(amount, Decimal):
        raise TypeError("USD amounts are Decimal, never float.")
    if not amount.is_finite() or amount != amount.quantize(Decimal("0.01")):
        raise AmountOutOfRange("Enter a dollar amount with at most two decimal places.")
    return int(amount * 100)


def quote(*, package_id: int | None = None, custom_amount_usd: Decimal | None = None) -> Quote:
    """Price a package or a custom amount (with the bulk bonus tier it reaches).

    Raises InvalidPurchase (neither or both given), PackageNotFound, AmountOutOfRange.
    """
    if (package_id is None) == (custom_amount_usd is None):
        raise InvalidPurchase("Choose a package or enter a custom amount (one of the two).")
    if package_id is not None:
        package = CreditPackage.objects.filter(pk=package_id, active=True).first()
        if package is None:
            raise PackageNotFound(f"There is no active package #{package_id}.")
        return Quote(package, package.name, package.usd_cents, package.base_credits, package.bonus_credits)
    assert custom_amount_usd is not None
    cents = _usd_to_cents(custom_amount_usd)
    low = _usd_to_cents(Decimal(settings.PAYMENTS_CUSTOM_MIN_USD))
    high = _usd_to_cents(Decimal(settings.PAYMENTS_CUSTOM_MAX_USD))
    if not low <= cents <= high:
        raise AmountOutOfRange(
            f"Custom amounts run from ${selectors.cents_to_usd(low)} to ${selectors.cents_to_usd(high)}.",
            min_usd=selectors.cents_to_usd(low),
            max_usd=selectors.cents_to_usd(high),
        )
    base = selectors.credits_for_usd_cents(cents)
    bonus = int((Decimal(base) * selectors.bonus_percent_for(cents) / 100).to_integral_value(rounding=ROUND_DOWN))
    return Quote(None, "Custom amount", cents, base, bonus)


def _check_limits(*, user_id: int, usd_cents: int, now: datetime) -> None:
    """Per-user purchase limits over the last day and the last 30 days (rolling windows)."""
    for label, window, setting in (
        ("daily", timedelta(days=1), settings.PAYMENTS_DAILY_LIMIT_USD),
        ("monthly", timedelta(days=30), settings.PAYMENTS_MONTHLY_LIMIT_USD),
    ):
        limit = _usd_to_cents(Decimal(setting))
        spent = (
            Payment.objects.filter(user_id=user_id, status__in=COUNTED_STATUSES, created_at__gte=now - window)
            .exclude(provider=Provider.DEMO)
            .aggregate(total=Sum("usd_cents"))["total"]
            or 0
        )
        if spent + usd_cents > limit:
            left = max(0, limit - spent)
            raise PurchaseLimitReached(
                f"This purchase would pass your {label} limit of ${selectors.cents_to_usd(limit)}; "
                f"you can buy up to ${selectors.cents_to_usd(left)} more right now.",
                limit_usd=selectors.cents_to_usd(limit),
                remaining_usd=selectors.cents_to_usd(left),
            )


# --- the state machine ------------------------------------------------------------------------


def _move(payment: Payment, status: str, detail: str = "") -> bool:
    """Move a locked payment forward; a backwards or sideways move is ignored (and logged)."""
    if payment.status == status:
        if detail:
            payment.status_detail = detail[:255]
        return False
    if not payment.can_move_to(status):
        logger.info("Payment #%s: ignoring %s → %s (forward only)", payment.pk, payment.status, status)
        return False
    logger.info("Payment #%s: %s → %s %s", payment.pk, payment.status, status, detail)
    payment.status = status
    payment.status_detail = detail[:255]
    return True


PAYMENT_MUTABLE = [
    "reference",
    "status",
    "status_detail",
    "coin_amount",
    "received_amount",
    "address",
    "confirms_needed",
    "confirmations",
    "checkout_url",
    "status_url",
    "qrcode_url",
    "block_number",
    "block_hash",
    "rejected_reference",
    "expires_at",
    "completed_at",
    "updated_at",
]


def _save(payment: Payment) -> None:
    payment.save(update_fields=PAYMENT_MUTABLE)


def _lock(payment_id: int) -> Payment:
    # The payment row is the first lock every money path takes (then the wallet's accounts).
    return Payment.objects.select_for_update(no_key=True).select_related("user").get(pk=payment_id)


def _complete_locked(payment: Payment, *, detail: str = "") -> bool:
    """Credit a locked payment: purchase + bonus transfers and status `completed`, once.

    Must run inside the caller's durable transaction. Returns False when already completed.
    """
    if payment.status == S.COMPLETED:
        return False
    if not payment.can_move_to(S.COMPLETED):
        logger.warning("Payment #%s: cannot complete from %s", payment.pk, payment.status)
        return False
    user_account = wallet.user_account(user_id=payment.user_id)
    # Two history lines, as in the seed: the purchase from issuance, the bonus from promotions.
    for source, amount, kind, memo in (
        (SystemAccount.ISSUANCE, payment.base_credits, TransferKind.PURCHASE, payment.package_name),
        (
            SystemAccount.PROMOTIONS,
            payment.bonus_credits,
            TransferKind.BONUS,
            f"Bonus credits for {payment.package_name}",
        ),
    ):
        if amount > 0:
            wallet.transfer_post(
                from_account=wallet.system_account(name=source),
                to_account=user_account,
                amount=amount,
                kind=kind,
                idempotency_key=f"payment:{payment.pk}:{kind}",
                memo=f"{memo} (payment #{payment.pk})",
                cause=payment,
            )
    _move(payment, S.COMPLETED, detail)
    payment.completed_at = timezone.now()
    _save(payment)
    transaction.on_commit(lambda: _after_purchase_completed(payment))
    logger.info("Payment #%s: credited %s + %s bonus", payment.pk, payment.base_credits, payment.bonus_credits)
    return True


def _after_purchase_completed(payment: Payment) -> None:
    """Runs once after a purchase is committed as completed: the buyer's receipt email, and the
    referral program, which pays the referrer on a referred member's first purchase (its own
    idempotent task, so a failure there never touches the credited purchase)."""
    logger.info("Payment #%s: purchase completed for user #%s", payment.pk, payment.user_id)
    from rewards.tasks import referral_purchase

    from .tasks import send_purchase_receipt

    send_purchase_receipt.delay(payment.pk)
    referral_purchase.delay(payment.user_id, f"payment:{payment.pk}", payment.wallet_address)


def send_purchase_receipt(*, payment_id: int) -> bool:
    payment = Payment.objects.select_related("user").filter(pk=payment_id, status=S.COMPLETED).first()
    if payment is None:
        return False
    currency = default_currency()
    balance = balance_for_user(user_id=payment.user_id)
    send_mail(
        subject=f"{settings.GOLDBOOK_SITE_NAME}: receipt for payment #{payment.pk}",
        message=(
            f"Thank you for your purchase.\n\n"
            f"{payment.package_name}: ${payment.usd_amount}\n"
            f"Credits: {currency.to_decimal(payment.base_credits)}"
            f" + {currency.to_decimal(payment.bonus_credits)} bonus\n"
            f"New balance: {balance.balance_decimal} {settings.GOLDBOOK_CURRENCY_NAME}\n"
        ),
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[payment.user.email],
        fail_silently=False,
    )
    return True


def _durable(fn: Callable[[], Any]) -> Any:
    """Run `fn` in a durable transaction; lock timeouts and serialisation failures become
    TransientFailure (the IPN view answers 503 so the provider retries)."""
    try:
        with transaction.atomic(durable=True):
            return fn()
    except OperationalError as exc:
        logger.warning("Transient database failure: %s", exc)
        raise TransientFailure("The payment could not be processed right now; try again.") from exc


# --- provider messages --------------------------------------------------------------------------


def _digest(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part if isinstance(part, bytes) else part.encode())
        h.update(b"\x00")
    return h.hexdigest()


def _store_message(
    *,
    provider: str,
    message_id: str,
    kind: str,
    payment_id: int | None,
    body: str,
    headers: dict[str, Any] | None,
    verified: bool,
    error: str = "",
) -> tuple[ProviderMessage, bool]:
    """Store a message raw with its verification result (committed before anyone acts on it).
    Returns (message, created); a duplicate returns the stored one."""
    # PostgreSQL text cannot hold NUL: a forger's binary body is kept, visibly escaped.
    body = body.replace("\x00", "\\x00")
    headers = {str(k): str(v).replace("\x00", "\\x00")[:500] for k, v in (headers or {}).items()}
    try:
        with transaction.atomic():
            msg, created = ProviderMessage.objects.get_or_create(
                provider=provider,
                message_id=message_id[:160],
                defaults={
                    "kind": kind,
                    "payment_id": payment_id,
                    "body": body,
                    "headers": headers or {},
                    "verified": verified,
                    "verification_error": error[:255],
                },
            )
    except IntegrityError:
        msg, created = ProviderMessage.objects.get(provider=provider, message_id=message_id[:160]), False
    return msg, created


def _note_outcome(message_id: int | None, outcome: str) -> None:
    if message_id is not None:
        ProviderMessage.objects.filter(pk=message_id).update(outcome=outcome[:255], processed_at=timezone.now())


# --- CoinPayments ----------------------------------------------------------------------------------


def coinpayments_client() -> cp.Client:
    return cp.Client()


def _dec(value: Any) -> Decimal | None:
    try:
        d = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        return None
    return d if d.is_finite() else None


def _decide_coinpayments(
    payment: Payment, *, status: int | None, received: Decimal | None, confirms: int
) -> tuple[str, str]:
    """The next status from the provider's status code AND the amounts we see.

    Status >= 100 or == 2 completes only when the received amount covers the coin amount asked
    for; < 0 expires (or marks underpaid when some funds came); anything else is pending, or
    confirming once funds are seen.
    """
    expected = _dec(payment.coin_amount)
    if status is None:
        return payment.status, "Unreadable provider status."
    if status >= 100 or status == 2:
        if received is None or expected is None:
            return S.NEEDS_REVIEW, "Provider reports complete, but the received amount is unknown."
        if received < expected:
            return S.NEEDS_REVIEW, f"Provider reports complete with only {received} of {expected} {payment.coin}."
        return S.COMPLETED, f"Received {received} {payment.coin} with {confirms} confirmation(s)."
    if status < 0:
        if received is not None and received > 0 and (expected is None or received < expected):
            return S.UNDERPAID, f"Only {received} of {expected} {payment.coin} arrived before the deadline."
        return S.EXPIRED, "No payment arrived before the deadline."
    if received is not None and received > 0:
        return S.CONFIRMING, f"Received {received} {payment.coin}, {confirms} confirmation(s)."
    return S.PENDING, ""


def _apply_coinpayments(
    *,
    payment_id: int,
    status: int | None,
    received: Decimal | None,
    confirms: int,
    txn_id: str,
    message_id: int | None,
) -> Payment:
    def run() -> Payment:
        payment = _lock(payment_id)
        if not payment.reference and txn_id:
            # The create call timed out after the provider made the transaction: adopt it.
            payment.reference = txn_id
        if received is not None:
            payment.received_amount = str(received)
        payment.confirmations = max(0, confirms)
        target, detail = _decide_coinpayments(payment, status=status, received=received, confirms=confirms)
        if target == S.COMPLETED:
            credited = _complete_locked(payment, detail=detail)
            outcome = "credited" if credited else f"no change ({payment.status})"
        else:
            moved = _move(payment, target, detail)
            _save(payment)
            outcome = f"{payment.status}" if moved else f"no change ({payment.status})"
        _note_outcome(message_id, outcome)
        return payment

    return _durable(run)


@dataclass
class IpnResult:
    accepted: bool
    reason: str = ""
    payment_id: int | None = None


def _verify_ipn(config: cp.Config, ipn: cp.Ipn, body: bytes, header: str) -> tuple[str, Payment | None]:
    """'' when the IPN is genuine and matches its payment, else the reason it is refused."""
    if not config.ipn_secret:
        return "The IPN secret is not configured.", None
    if not cp.verify_ipn_signature(secret=config.ipn_secret, body=body, header=header):
        return "HMAC signature does not match.", None
    if ipn.get("ipn_mode") != "hmac":
        return "ipn_mode is not hmac.", None
    if not secrets.compare_digest(ipn.get("merchant").encode(), config.merchant_id.encode()):
        return "Merchant id does not match.", None
    invoice = ipn.get("invoice")
    payment = (
        Payment.objects.filter(pk=int(invoice), provider=Provider.COINPAYMENTS).first()
        if invoice.isdigit() and len(invoice) < 19
        else None
    )
    if payment is None:
        return f"Unknown invoice {invoice[:40]!r}.", None
    if payment.reference and ipn.get("txn_id") != payment.reference:
        return "txn_id does not match the payment.", payment
    if ipn.get("currency1").upper() != "USD":
        return "currency1 does not match the payment.", payment
    amount1 = _dec(ipn.get("amount1"))
    if amount1 is None or amount1 != payment.usd_amount:
        return "amount1 does not match the payment.", payment
    if ipn.status is None:
        return "status is not a number.", payment
    return "", payment


def coinpayments_ipn_receive(*, body: bytes, hmac_header: str, headers: dict[str, str] | None = None) -> IpnResult:
    """Verify, store and apply one IPN.

    Steps: verify (HMAC over the raw body, constant time; ipn_mode; merchant; invoice,
    currency1, amount1 and txn_id against the payment); store the raw message with the result
    (a genuine one under its ipn_id, a refused one under a digest); apply it to the payment
    (duplicates and out-of-order messages are harmless: the state machine only moves forward).
    Raises TransientFailure when the database fails in a way a retry may fix.
    """
    config = cp.Config.from_settings()
    ipn = cp.parse_ipn(body)
    error, payment = _verify_ipn(config, ipn, body, hmac_header)
    text = body.decode("utf-8", errors="replace")
    try:
        if error:
            logger.warning("CoinPayments IPN refused: %s (invoice %r)", error, ipn.get("invoice")[:40])
            _store_message(
                provider=Provider.COINPAYMENTS,
                message_id="unverified:" + _digest(body, hmac_header),
                kind=ProviderMessage.Kind.IPN,
                payment_id=payment.pk if payment else None,
                body=text,
                headers=headers,
                verified=False,
                error=error,
            )
            return IpnResult(False, error, payment.pk if payment else None)
        assert payment is not None
        message_id = ipn.get("ipn_id") or "body:" + _digest(body)
        msg, _ = _store_message(
            provider=Provider.COINPAYMENTS,
            message_id=message_id,
            kind=ProviderMessage.Kind.IPN,
            payment_id=payment.pk,
            body=text,
            headers=headers,
            verified=True,
        )
        _apply_ipn_fields(payment_id=payment.pk, ipn=ipn, message_id=msg.pk)
    except OperationalError as exc:
        raise TransientFailure("Database unavailable.") from exc
    return IpnResult(True, "", payment.pk)


def _apply_ipn_fields(*, payment_id: int, ipn: cp.Ipn, message_id: int | None) -> Payment:
    confirms = ipn.get("received_confirms")
    return _apply_coinpayments(
        payment_id=payment_id,
        status=ipn.status,
        received=_dec(ipn.get("received_amount")) if ipn.get("received_amount") != "" else None,
        confirms=int(confirms) if confirms.isdigit() else 0,
        txn_id=ipn.get("txn_id"),
        message_id=message_id,
    )


def _apply_poll_result(*, payment_id: int, txn_id: str, info: dict[str, Any]) -> Payment:
    raw = json.dumps(info, sort_keys=True, default=str)
    msg, _ = _store_message(
        provider=Provider.COINPAYMENTS,
        message_id=f"poll:{txn_id}:{_digest(raw)[:40]}",
        kind=ProviderMessage.Kind.POLL,
        payment_id=payment_id,
        body=raw,
        headers={},
        verified=True,
    )
    try:
        status: int | None = int(str(info.get("status")))
    except ValueError:
        status = None
    confirms = str(info.get("recv_confirms", "0"))
    return _apply_coinpayments(
        payment_id=payment_id,
        status=status,
        received=_dec(info.get("receivedf")) if "receivedf" in info else None,
        confirms=int(confirms) if confirms.isdigit() else 0,
        txn_id=txn_id,
        message_id=msg.pk,
    )


def _fail(payment_id: int, reason: str) -> None:
    with transaction.atomic():
        payment = _lock(payment_id)
        if _move(payment, S.FAILED, reason):
            _save(payment)


def _fill_from_create(payment: Payment, result: dict[str, Any], now: datetime) -> None:
    payment.reference = str(result.get("txn_id") or "")[:128] or None
    payment.coin_amount = str(result.get("amount", ""))[:64]
    payment.address = str(result.get("address", ""))[:255]
    try:
        payment.confirms_needed = int(str(result.get("confirms_needed", "0")))
    except ValueError:
        payment.confirms_needed = 0
    try:
        timeout = int(str(result.get("timeout", 0)))
    except ValueError:
        timeout = 0
    payment.expires_at = now + timedelta(seconds=timeout or 3600)
    payment.checkout_url = str(result.get("checkout_url", ""))[:500]
    payment.status_url = str(result.get("status_url", ""))[:500]
    payment.qrcode_url = str(result.get("qrcode_url", ""))[:500]


def _fill_from_info(payment: Payment, info: dict[str, Any], now: datetime) -> None:
    payment.coin_amount = str(info.get("amountf", ""))[:64]
    payment.address = str(info.get("payment_address", ""))[:255]
    try:
        payment.expires_at = datetime.fromtimestamp(int(str(info.get("time_expires"))), tz=dt.UTC)
    except (ValueError, OverflowError):
        payment.expires_at = now + timedelta(hours=1)


def coinpayments_checkout(*, user: User, quote: Quote, coin: str, client: cp.Client | None = None) -> Payment:
    """Create a payment and its CoinPayments transaction.

    Steps: check the coin and the user's limits; save the payment (pending, no reference yet)
    so its id can be the invoice; call create_transaction outside any lock; store the answer.
    After an ambiguous failure (read timeout, 5xx) we first look the invoice up, and only
    create again when the provider has no transaction for it: one payment, one provider
    transaction. On a refusal or outage the payment is marked failed with the provider's message.
    Raises UnsupportedCoin, PurchaseLimitReached, ProviderFailed.
    """
    if coin not in settings.COINPAYMENTS_ACCEPTED_COINS:
        raise UnsupportedCoin(
            f"{coin!r} is not accepted. Choose one of: {', '.join(settings.COINPAYMENTS_ACCEPTED_COINS)}.",
            accepted=list(settings.COINPAYMENTS_ACCEPTED_COINS),
        )
    client = client or coinpayments_client()
    if not client.config.configured:
        raise ProviderFailed("CoinPayments is not configured on this site.")
    now = timezone.now()
    _check_limits(user_id=user.pk, usd_cents=quote.usd_cents, now=now)
    payment = Payment.objects.create(
        user=user,
        package=quote.package,
        package_name=quote.name,
        usd_cents=quote.usd_cents,
        base_credits=quote.base_credits,
        bonus_credits=quote.bonus_credits,
        provider=Provider.COINPAYMENTS,
        coin=coin,
    )
    started = int(time.time()) - 120
    params = {
        "amount": str(payment.usd_amount),
        "currency1": "USD",
        "currency2": coin,
        "buyer_email": user.email,
        "invoice": str(payment.pk),
        "ipn_url": settings.SITE_URL + reverse("payments:coinpayments_ipn"),
        "item_name": f"{settings.GOLDBOOK_SITE_NAME}: {quote.name}",
    }
    result: dict[str, Any] | None = None
    adopted: tuple[str, dict[str, Any]] | None = None
    for attempt in (1, 2):
        try:
            result = client.create_transaction(**params)
            break
        except cp.CoinPaymentsError as exc:
            _fail(payment.pk, f"CoinPayments: {exc}")
            raise ProviderFailed(f"CoinPayments refused the payment: {exc}", payment_id=payment.pk) from exc
        except cp.CoinPaymentsUnavailable as exc:
            if exc.ambiguous:
                try:
                    adopted = client.find_transaction_by_invoice(invoice=str(payment.pk), newer=started)
                except (cp.CoinPaymentsError, cp.CoinPaymentsUnavailable):
                    adopted = None
                    attempt = 2  # cannot tell whether it got through: never risk a second one
                if adopted:
                    break
            if attempt == 2:
                _fail(payment.pk, f"CoinPayments unavailable: {exc}")
                raise ProviderFailed(
                    "CoinPayments is not answering right now; no payment was made. Please try again in a minute.",
                    payment_id=payment.pk,
                ) from exc
            logger.info(
                "Payment #%s: create attempt %s failed (%s); provider has none, retrying", payment.pk, attempt, exc
            )
    with transaction.atomic():
        payment = _lock(payment.pk)
        if result is not None:
            _fill_from_create(payment, result, now)
        elif adopted is not None:
            payment.reference = adopted[0]
            _fill_from_info(payment, adopted[1], now)
        _save(payment)
    logger.info(
        "Payment #%s: CoinPayments transaction %s for %s %s", payment.pk, payment.reference, payment.coin_amount, coin
    )
    return payment


# --- polling ------------------------------------------------------------------------------------------


@dataclass
class PollReport:
    checked: int = 0
    provider_calls: int = 0
    updated: int = 0
    expired: int = 0
    chain_checked: int = 0
    errors: list[str] = field(default_factory=list)


def poll_payments(*, now: datetime | None = None, client: cp.Client | None = None) -> PollReport:
    """One pass of the poller: ask CoinPayments about every open payment (get_tx_info_multi, at
    most 25 ids per call), re-check pending chain deposits, then expire what is past its deadline.
    Each payment is applied in its own short transaction; a provider outage skips the batch."""
    report = PollReport()
    open_refs = selectors.open_coinpayments_references()
    if open_refs:
        client = client or coinpayments_client()
        batch_size = max(1, min(cp.MULTI_BATCH, settings.PAYMENTS_POLL_BATCH))
        for start in range(0, len(open_refs), batch_size):
            batch = open_refs[start : start + batch_size]
            by_ref = {ref: pid for pid, ref in batch}
            report.provider_calls += 1
            try:
                answers = client.get_tx_info_multi(by_ref.keys())
            except (cp.CoinPaymentsError, cp.CoinPaymentsUnavailable) as exc:
                report.errors.append(str(exc))
                logger.warning("Poll: batch of %s skipped: %s", len(batch), exc)
                continue
            for ref, info in answers.items():
                if ref not in by_ref or info.get("error", "ok") != "ok":
                    continue
                report.checked += 1
                before = Payment.objects.filter(pk=by_ref[ref]).values_list("status", flat=True).first()
                after = _apply_poll_result(payment_id=by_ref[ref], txn_id=ref, info=info)
                report.updated += int(after.status != before)
    for payment_id in selectors.open_chain_payment_ids():
        report.chain_checked += 1
        try:
            e9th_recheck(payment_id=payment_id)
        except (ChainUnavailableError, TransientFailure) as exc:
            report.errors.append(str(exc))
    for payment_id in selectors.overdue_payment_ids(now=now or timezone.now()):
        report.expired += int(_expire(payment_id, now=now or timezone.now()))
    return report


def _expire(payment_id: int, *, now: datetime) -> bool:
    with transaction.atomic():
        payment = _lock(payment_id)
        if payment.status != S.PENDING or payment.expires_at is None or payment.expires_at >= now:
            return False
        moved = _move(payment, S.EXPIRED, "No payment arrived before the deadline.")
        _save(payment)
        return moved


# --- re-processing a stored message (admin) ------------------------------------------------------------


def message_reprocess(*, message_id: int) -> str:
    """Apply a stored provider message again (admin action). IPNs are verified again from the
    stored raw body and headers; poll answers are re-applied; chain messages re-check the chain.
    Returns the outcome."""
    msg = ProviderMessage.objects.get(pk=message_id)
    if msg.kind == ProviderMessage.Kind.IPN:
        body = msg.body.encode()
        error, payment = _verify_ipn(cp.Config.from_settings(), cp.parse_ipn(body), body, msg.headers.get("HMAC", ""))
        if error or payment is None:
            _note_outcome(msg.pk, f"refused again: {error}")
            return f"refused: {error}"
        payment = _apply_ipn_fields(payment_id=payment.pk, ipn=cp.parse_ipn(body), message_id=msg.pk)
        return payment.status
    if msg.kind == ProviderMessage.Kind.POLL and msg.payment_id:
        info = json.loads(msg.body)
        txn_id = msg.message_id.split(":")[1]
        payment = _apply_poll_result(payment_id=msg.payment_id, txn_id=txn_id, info=info)
        return payment.status
    if msg.kind == ProviderMessage.Kind.RECEIPT and msg.payment_id:
        outcome = e9th_recheck(payment_id=msg.payment_id)
        return outcome.status
    return "nothing to do"


# --- E9th on-chain deposits ----------------------------------------------------------------------------


def e9th_client() -> e9th.Client:
    return e9th.Client()


_decimals_cache: dict[str, int] = {}


def _token_decimals(client: e9th.Client) -> int:
    if settings.E9TH_TOKEN_DECIMALS is not None:
        return int(settings.E9TH_TOKEN_DECIMALS)
    token = settings.E9TH_TOKEN_ADDRESS.lower()
    if token not in _decimals_cache:
        _decimals_cache[token] = client.token_decimals(token)
    return _decimals_cache[token]


def token_units_for(usd_cents: int, decimals: int) -> int:
    """The stablecoin is pegged 1:1 to USD: the package price in the token's smallest units."""
    return int(Decimal(usd_cents).scaleb(decimals - 2).to_integral_value(rounding="ROUND_CEILING"))


@dataclass
class ChainOutcome:
    status: str  # "confirmed", "already_credited", "pending"
    payment: Payment
    confirmations: int = 0
    required: int = 0
    message: str = ""


def _e9th_settings_ok() -> None:
    if not (settings.E9TH_RPC_URL and settings.E9TH_TOKEN_ADDRESS and settings.E9TH_DEPOSIT_ADDRESS):
        raise MethodUnavailable("E9th deposits are not configured on this site.")


def e9th_purchase(
    *, user: User, package_id: int, tx_hash: str, wallet_address: str, client: e9th.Client | None = None
) -> ChainOutcome:
    """Claim an on-chain E9th stablecoin deposit for a package.

    Checks, in order: hash and address well formed (InvalidPurchase, 400); the wallet is the
    caller's linked one (WalletNotLinked, 403); the hash is not pending or credited for someone
    else (HashClaimed, 409); the receipt passes every check (ClaimRejected, 422 with the
    reason; a rejected claim reserves nothing). Then: not mined or too few confirmations →
    pending (202); enough → re-check the receipt (same block hash) and credit once.
    """
    tx = e9th.normalise_hash(tx_hash)
    address = e9th.normalise_address(wallet_address)
    if tx is None:
        raise InvalidPurchase("tx_hash must be 0x followed by 64 hex digits.")
    if address is None:
        raise InvalidPurchase("wallet_address must be 0x followed by 40 hex digits.")
    linked = selectors.linked_wallet(user_id=user.pk)
    if linked is None or linked.address != address:
        raise WalletNotLinked("This wallet is not linked to your account. Link it first by signing the challenge.")
    existing = Payment.objects.filter(provider=Provider.E9TH, reference=tx).first()
    if existing is not None and existing.user_id != user.pk and existing.status not in (S.COMPLETED, S.REFUNDED):
        # Someone else's open claim: check it now, so an impostor who claimed the hash before
        # it was mined is thrown out the moment the receipt shows the real sender.
        e9th_recheck(payment_id=existing.pk, client=client)
        existing = Payment.objects.filter(provider=Provider.E9TH, reference=tx).first()
    if existing is not None and existing.user_id != user.pk:
        raise HashClaimed("This transaction was already claimed by another account.")
    if existing is not None and existing.status in (S.COMPLETED, S.REFUNDED):
        return ChainOutcome("already_credited", existing)
    _e9th_settings_ok()
    if existing is None:
        package = CreditPackage.objects.filter(pk=package_id, active=True).first()
        if package is None:
            raise PackageNotFound(f"There is no active package #{package_id}.")
        _check_limits(user_id=user.pk, usd_cents=package.usd_cents, now=timezone.now())
        quote_ = Quote(package, package.name, package.usd_cents, package.base_credits, package.bonus_credits)
    else:
        quote_ = Quote(
            existing.package, existing.package_name, existing.usd_cents, existing.base_credits, existing.bonus_credits
        )
    client = client or e9th_client()
    return _e9th_evaluate(user=user, tx=tx, address=address, quote_=quote_, existing=existing, client=client)


def _e9th_evaluate(
    *, user: User, tx: str, address: str, quote_: Quote, existing: Payment | None, client: e9th.Client
) -> ChainOutcome:
    required = settings.E9TH_MIN_CONFIRMATIONS
    try:
        receipt = client.receipt(tx)
        latest = client.block_number() if receipt else 0
        decimals = _token_decimals(client)
    except e9th.ChainUnavailable as exc:
        raise ChainUnavailableError(f"The E9th chain node is not answering: {exc}") from exc
    min_value = token_units_for(quote_.usd_cents, decimals)
    if receipt is not None:
        try:
            e9th.check_deposit(
                receipt,
                token=settings.E9TH_TOKEN_ADDRESS,
                sender=address,
                recipient=settings.E9TH_DEPOSIT_ADDRESS,
                min_value=min_value,
            )
        except e9th.ReceiptRejected as exc:
            _store_receipt_message(tx, receipt, existing, verified=False, error=str(exc))
            if existing is not None:
                _release_claim(existing.pk, str(exc))
            raise ClaimRejected(str(exc), reason=str(exc)) from exc
    payment = existing or _create_chain_claim(user=user, tx=tx, address=address, quote_=quote_, decimals=decimals)
    if receipt is None:
        with transaction.atomic():
            locked = _lock(payment.pk)
            _move(locked, S.PENDING, "Waiting for the transaction to be mined.")
            _save(locked)
        return ChainOutcome(
            "pending", locked, 0, required, "The transaction is not mined yet. We will credit it once it is confirmed."
        )
    confirms = e9th.confirmations(latest_block=latest, receipt=receipt)
    _store_receipt_message(tx, receipt, payment, verified=True)
    if confirms < required:
        with transaction.atomic():
            locked = _lock(payment.pk)
            if locked.status != S.COMPLETED:
                locked.block_number, locked.block_hash, locked.confirmations = (
                    receipt.block_number,
                    receipt.block_hash,
                    confirms,
                )
                _move(locked, S.CONFIRMING, f"{confirms} of {required} confirmations.")
                _save(locked)
        if locked.status == S.COMPLETED:
            return ChainOutcome("already_credited", locked)
        return ChainOutcome(
            "pending",
            locked,
            confirms,
            required,
            f"{confirms} of {required} confirmations so far. Your credits arrive once it is confirmed.",
        )
    # Re-check right before crediting: a reorg may have moved or dropped the transaction.
    try:
        again = client.receipt(tx)
    except e9th.ChainUnavailable as exc:
        raise ChainUnavailableError(f"The E9th chain node is not answering: {exc}") from exc
    if again is None or again.block_hash != receipt.block_hash:
        with transaction.atomic():
            locked = _lock(payment.pk)
            if locked.status != S.COMPLETED:
                locked.block_hash, locked.confirmations = (again.block_hash if again else ""), 0
                _move(
                    locked, S.CONFIRMING, "The block changed (chain reorganisation); waiting for confirmations again."
                )
                _save(locked)
        logger.warning("Payment #%s: receipt of %s moved block (reorg); not credited yet", payment.pk, tx)
        return ChainOutcome(
            "pending", locked, 0, required, "The chain reorganised; waiting for the transaction to confirm again."
        )

    def credit() -> tuple[Payment, bool]:
        locked = _lock(payment.pk)
        if locked.status == S.COMPLETED:
            return locked, False
        locked.block_number, locked.block_hash, locked.confirmations = (
            receipt.block_number,
            receipt.block_hash,
            confirms,
        )
        done = _complete_locked(locked, detail=f"{confirms} confirmations in block {receipt.block_number}.")
        if not done:
            _save(locked)
        return locked, done

    credited, done = _durable(credit)
    if credited.status != S.COMPLETED:
        return ChainOutcome("pending", credited, confirms, required, credited.status_detail)
    return ChainOutcome("confirmed" if done else "already_credited", credited, confirms, required)


def _store_receipt_message(
    tx: str, receipt: e9th.Receipt, payment: Payment | None, *, verified: bool, error: str = ""
) -> None:
    body = json.dumps(
        {
            "tx_hash": tx,
            "status": receipt.status,
            "block_number": receipt.block_number,
            "block_hash": receipt.block_hash,
            "logs": receipt.logs,
        },
        sort_keys=True,
        default=str,
    )
    prefix = "" if verified else "unverified:"
    _store_message(
        provider=Provider.E9TH,
        message_id=f"{prefix}receipt:{tx}:{receipt.block_hash}"[:160] if verified else prefix + _digest(body),
        kind=ProviderMessage.Kind.RECEIPT,
        payment_id=payment.pk if payment else None,
        body=body,
        headers={},
        verified=verified,
        error=error,
    )


def _create_chain_claim(*, user: User, tx: str, address: str, quote_: Quote, decimals: int) -> Payment:
    try:
        with transaction.atomic():
            return Payment.objects.create(
                user=user,
                package=quote_.package,
                package_name=quote_.name,
                usd_cents=quote_.usd_cents,
                base_credits=quote_.base_credits,
                bonus_credits=quote_.bonus_credits,
                provider=Provider.E9TH,
                reference=tx,
                coin="E9TH",
                coin_amount=str(Decimal(token_units_for(quote_.usd_cents, decimals)).scaleb(-decimals)),
                address=settings.E9TH_DEPOSIT_ADDRESS,
                confirms_needed=settings.E9TH_MIN_CONFIRMATIONS,
                wallet_address=address,
            )
    except IntegrityError:
        winner = Payment.objects.filter(provider=Provider.E9TH, reference=tx).first()
        if winner is not None and winner.user_id == user.pk:
            return winner
        raise HashClaimed("This transaction was already claimed by another account.") from None


def _release_claim(payment_id: int, reason: str) -> None:
    """A claim that turned out invalid stops reserving its hash (the real owner may claim it)."""
    with transaction.atomic():
        payment = _lock(payment_id)
        if payment.status in (S.COMPLETED, S.REFUNDED):
            return
        _move(payment, S.FAILED, reason)
        if payment.reference:
            payment.rejected_reference = payment.reference
            payment.reference = None
        _save(payment)


def e9th_recheck(*, payment_id: int, client: e9th.Client | None = None) -> ChainOutcome:
    """The poller's look at a pending chain deposit: credit it once confirmed, fail it when the
    hash has had no receipt for E9TH_PENDING_TIMEOUT_MINUTES."""
    payment = Payment.objects.select_related("user").get(pk=payment_id)
    if payment.status in (S.COMPLETED, S.REFUNDED) or not payment.reference:
        return ChainOutcome(payment.status, payment)
    client = client or e9th_client()
    quote_ = Quote(
        payment.package, payment.package_name, payment.usd_cents, payment.base_credits, payment.bonus_credits
    )
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
        return ChainOutcome("rejected", payment, message=exc.message)
    deadline = payment.created_at + timedelta(minutes=settings.E9TH_PENDING_TIMEOUT_MINUTES)
    if (
        outcome.status == "pending"
        and payment.block_number is None
        and not outcome.payment.block_hash
        and timezone.now() > deadline
    ):
        _release_claim(payment.pk, "No receipt for this transaction within the time limit.")
        outcome.payment.refresh_from_db()
        return ChainOutcome("failed", outcome.payment, message="No receipt within the time limit.")
    return outcome


# --- wallet linking ----------------------------------------------------------------------------------


def wallet_challenge_create(*, user: User) -> WalletChallenge:
    nonce = secrets.token_hex(16)
    now = timezone.now()
    message = (
        f"{settings.GOLDBOOK_SITE_NAME} wants you to link your E9th wallet to {user.email}.\n\n"
        f"Signing this message proves you control the wallet. It costs nothing and moves no funds.\n\n"
        f"Nonce: {nonce}\nIssued at: {now.strftime('%Y-%m-%dT%H:%M:%SZ')}"
    )
    return WalletChallenge.objects.create(user=user, nonce=nonce, message=message, expires_at=now + CHALLENGE_TTL)


def _recover_signer(message: str, signature: str) -> str | None:
    from eth_account import Account
    from eth_account.messages import encode_defunct

    try:
        return str(Account.recover_message(encode_defunct(text=message), signature=signature)).lower()
    except Exception:  # noqa: BLE001 - eth-account raises many types for malformed signatures
        return None


def wallet_link(*, user: User, wallet_address: str, signature: str) -> LinkedWallet:
    """Link a wallet after checking an EIP-191 personal_sign signature of the user's latest
    unused challenge. The challenge is spent whatever the outcome (one-time nonce).
    Raises WalletLinkFailed (400), WalletTaken (409)."""
    address = e9th.normalise_address(wallet_address)
    if address is None:
        raise WalletLinkFailed("wallet_address must be 0x followed by 40 hex digits.")
    if not isinstance(signature, str) or not signature.strip() or len(signature) > 200:
        raise WalletLinkFailed("A signature is required.")
    now = timezone.now()
    with transaction.atomic():
        challenge = (
            WalletChallenge.objects.select_for_update(no_key=True)
            .filter(user=user, used_at__isnull=True, expires_at__gt=now)
            .order_by("-id")
            .first()
        )
        if challenge is None:
            raise WalletLinkFailed("Request a new message to sign first (challenges last 15 minutes and work once).")
        challenge.used_at = now
        challenge.save(update_fields=["used_at"])
    signer = _recover_signer(challenge.message, signature.strip())
    if signer != address:
        raise WalletLinkFailed(
            "The signature does not match this wallet and message. Request a new message and sign again."
        )
    try:
        with transaction.atomic():
            owner = LinkedWallet.objects.select_for_update(no_key=True).filter(address=address).first()
            if owner is not None and owner.user_id != user.pk:
                raise WalletTaken("This wallet is already linked to another account.")
            linked, _ = LinkedWallet.objects.update_or_create(user=user, defaults={"address": address})
    except IntegrityError:
        raise WalletTaken("This wallet is already linked to another account.") from None
    logger.info("User #%s: linked E9th wallet %s", user.pk, address)
    return linked


# --- demo method -------------------------------------------------------------------------------------


def demo_enabled() -> bool:
    """The demo method exists only on a DEBUG site with no provider keys at all."""
    keys = (
        settings.COINPAYMENTS_PUBLIC_KEY,
        settings.COINPAYMENTS_PRIVATE_KEY,
        settings.COINPAYMENTS_MERCHANT_ID,
        settings.COINPAYMENTS_IPN_SECRET,
        settings.E9TH_RPC_URL,
    )
    return bool(settings.DEBUG) and not any(keys)


def demo_checkout(*, user: User, quote: Quote) -> Payment:
    if not demo_enabled():
        raise MethodUnavailable("The demo payment method is only available on a development site.")
    now = timezone.now()
    _check_limits(user_id=user.pk, usd_cents=quote.usd_cents, now=now)
    return Payment.objects.create(
        user=user,
        package=quote.package,
        package_name=quote.name,
        usd_cents=quote.usd_cents,
        base_credits=quote.base_credits,
        bonus_credits=quote.bonus_credits,
        provider=Provider.DEMO,
        reference="demo-" + secrets.token_hex(12),
        coin="DEMO",
        coin_amount=str(selectors.cents_to_usd(quote.usd_cents)),
        address="DEMO-NO-REAL-MONEY",
        expires_at=now + DEMO_TTL,
    )


def demo_pay(*, payment_id: int, user: User) -> Payment:
    if not demo_enabled():
        raise MethodUnavailable("The demo payment method is only available on a development site.")

    def run() -> Payment:
        payment = _lock(payment_id)
        if payment.user_id != user.pk or payment.provider != Provider.DEMO:
            raise InvalidPurchase("This is not one of your demo payments.")
        _complete_locked(payment, detail="Paid with the demo method (no real money).")
        return payment

    return _durable(run)


# --- refunds (maker-checker) -----------------------------------------------------------------------------


def refund_request(*, payment_id: int, requested_by_id: int, reason: str) -> RefundRequest:
    if not reason.strip():
        raise RefundNotAllowed("A refund needs a reason.")
    payment = Payment.objects.get(pk=payment_id)
    if payment.status != S.COMPLETED:
        raise RefundNotAllowed(f"Payment #{payment.pk} is {payment.status}; only completed payments are refunded.")
    try:
        with transaction.atomic():
            return RefundRequest.objects.create(payment=payment, reason=reason.strip(), requested_by_id=requested_by_id)
    except IntegrityError:
        raise RefundNotAllowed(f"Payment #{payment.pk} already has a refund awaiting approval.") from None


def refund_approve(*, request_id: int, approver_id: int, note: str = "") -> RefundRequest:
    """Approve a refund: reverse the purchase and bonus transfers while the credits are unspent.

    Raises RefundNotAllowed (decided already, approver is the requester, payment not completed)
    and RefundShortfall (the user has less available than the refund takes back; nothing moves).
    """

    def run() -> RefundRequest:
        pending = RefundRequest.objects.get(pk=request_id)
        payment = _lock(pending.payment_id)  # the payment row first: the global lock order
        req = RefundRequest.objects.select_for_update(no_key=True).get(pk=request_id)
        if req.status != RefundStatus.REQUESTED:
            raise RefundNotAllowed(f"Refund #{req.pk} was already {req.status}.")
        if req.requested_by_id == approver_id:
            raise RefundNotAllowed("A different staff member must approve a refund.")
        if payment.status != S.COMPLETED:
            raise RefundNotAllowed(f"Payment #{payment.pk} is {payment.status}.")
        transfers = list(
            Transfer.objects.filter(
                idempotency_key__in=[f"payment:{payment.pk}:purchase", f"payment:{payment.pk}:bonus"]
            ).order_by("pk")
        )
        needed = sum(t.amount for t in transfers)
        available = balance_for_user(user_id=payment.user_id).available
        currency = default_currency()
        if available < needed:
            raise RefundShortfall(
                f"The user has {currency.to_decimal(available)} available but the refund takes back "
                f"{currency.to_decimal(needed)}: {currency.to_decimal(needed - available)} short.",
                shortfall=needed - available,
            )
        try:
            for transfer in transfers:
                wallet.transfer_reverse(
                    transfer=transfer, memo=f"Refund of payment #{payment.pk}", created_by_id=approver_id
                )
        except InsufficientFunds as exc:
            raise RefundShortfall(
                f"The user no longer has the credits: {currency.to_decimal(exc.needed)} short.", shortfall=exc.needed
            ) from exc
        _move(payment, S.REFUNDED, f"Refunded (request #{req.pk}).")
        _save(payment)
        req.status = RefundStatus.APPROVED
        req.decided_by_id = approver_id
        req.decided_at = timezone.now()
        req.decision_note = note[:255]
        req.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
        return req

    return _durable(run)


def refund_reject(*, request_id: int, approver_id: int, note: str = "") -> RefundRequest:
    with transaction.atomic():
        req = RefundRequest.objects.select_for_update(no_key=True).get(pk=request_id)
        if req.status != RefundStatus.REQUESTED:
            raise RefundNotAllowed(f"Refund #{req.pk} was already {req.status}.")
        if req.requested_by_id == approver_id:
            raise RefundNotAllowed("A different staff member must decide on a refund.")
        req.status = RefundStatus.REJECTED
        req.decided_by_id = approver_id
        req.decided_at = timezone.now()
        req.decision_note = note[:255]
        req.save(update_fields=["status", "decided_by", "decided_at", "decision_note"])
    return req


# --- legacy plans ---------------------------------------------------------------------------------------

LEGACY_PLANS: dict[str, tuple[str, Decimal]] = {
    "quick download": ("Quick Download", Decimal("5")),
    "quick_download": ("Quick Download", Decimal("5")),
    "pro access": ("Pro Access", Decimal("50")),
    "pro_access": ("Pro Access", Decimal("50")),
}


def legacy_plan_convert(*, user: User, plan: str, row_key: str) -> tuple[LegacyConversion, bool]:
    """Credit a holder of an old time-based plan once (Quick Download → 5, Pro Access → 50).
    Returns (conversion, created); a rerun with the same row key credits nothing."""
    label, credits = LEGACY_PLANS[plan.strip().lower()]
    currency = default_currency()
    amount = currency.to_minor(credits.quantize(currency.quantum))

    def run() -> tuple[LegacyConversion, bool]:
        conversion, created = LegacyConversion.objects.get_or_create(
            row_key=row_key, defaults={"user": user, "plan": label, "credits": amount}
        )
        wallet.transfer_post(
            from_account=wallet.system_account(name=SystemAccount.ISSUANCE),
            to_account=wallet.user_account(user_id=conversion.user_id),
            amount=conversion.credits,
            kind=TransferKind.CONVERSION,
            idempotency_key=f"legacy-plan:{conversion.pk}",
            memo=f"{label} plan converted to credits",
            cause=conversion,
        )
        return conversion, created

    return _durable(run)
