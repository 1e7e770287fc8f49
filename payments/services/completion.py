"""Completion: the only place that credits a purchase, and the receipt that follows it.

`complete_locked` runs inside the caller's durable transaction with the payment row locked:
status to `completed`, a `purchase` transfer (issuance → user, base credits) and a `bonus`
transfer (promotions → user), idempotency keys `payment:<id>:purchase` / `payment:<id>:bonus`, and
the PURCHASE_COMPLETED event in the same transaction (the receipt email and the referral payout
are its handlers, so a broker outage at commit loses neither).
"""

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext

from core.events import Event, record
from wallet import services as wallet
from wallet.models import SystemAccount, TransferKind
from wallet.selectors import balance_for_user, default_currency

from ..models import Payment, PaymentStatus
from ._state import move, save_payment

logger = logging.getLogger(__name__)

S = PaymentStatus


def complete_locked(payment: Payment, *, detail: str = "") -> bool:
    """Credit a locked payment: purchase + bonus transfers and status `completed`, once.

    Must run inside the caller's durable transaction. Returns False when already completed.
    """
    if payment.status == S.COMPLETED:
        return False
    if not payment.can_move_to(S.COMPLETED):
        logger.warning("Payment #%s: cannot complete from %s", payment.pk, payment.status)
        return False
    user_account = wallet.user_account(user_id=payment.user_id)
    # Two history lines, as in the seed: the purchase from issuance, the bonus from promotions,
    # posted together (one database call on PostgreSQL).
    wallet.transfers_post_batch(
        transfers=[
            wallet.TransferSpec(
                from_account=wallet.system_account(name=source),
                to_account=user_account,
                amount=amount,
                kind=kind,
                idempotency_key=f"payment:{payment.pk}:{kind}",
                memo=f"{memo} (payment #{payment.pk})",
                cause=payment,
            )
            for source, amount, kind, memo in (
                (SystemAccount.ISSUANCE, payment.base_credits, TransferKind.PURCHASE, payment.package_name),
                (
                    SystemAccount.PROMOTIONS,
                    payment.bonus_credits,
                    TransferKind.BONUS,
                    f"Bonus credits for {payment.package_name}",
                ),
            )
            if amount > 0
        ]
    )
    move(payment, S.COMPLETED, detail)
    payment.completed_at = timezone.now()
    save_payment(payment)
    record(
        Event.PURCHASE_COMPLETED,
        {"payment_id": payment.pk, "user_id": payment.user_id, "wallet_address": payment.wallet_address or ""},
    )
    logger.info("Payment #%s: credited %s + %s bonus", payment.pk, payment.base_credits, payment.bonus_credits)
    return True


def send_purchase_receipt(*, payment_id: int) -> bool:
    """Email the buyer a receipt for a completed payment. False (nothing sent) when the payment
    is not completed (refunded before the email went out, or never credited)."""
    payment = Payment.objects.select_related("user").filter(pk=payment_id, status=S.COMPLETED).first()
    if payment is None:
        return False
    currency = default_currency()
    balance = balance_for_user(user_id=payment.user_id)
    receipt_url = settings.SITE_URL + reverse("payments:receipt", args=[payment.pk])
    # Outbox work runs outside any request: the email is in the member's saved language.
    with translation.override(payment.user.language or settings.LANGUAGE_CODE):
        money = gettext(settings.GOLDBOOK_CURRENCY_NAME)
        subject = gettext("%(site)s: receipt for payment #%(id)s") % {
            "site": settings.GOLDBOOK_SITE_NAME,
            "id": payment.pk,
        }
        lines = [
            gettext("Thank you for your purchase."),
            "",
            f"{payment.package_name}: US${payment.usd_amount}",
            gettext("%(money)s: %(base)s + %(bonus)s bonus")
            % {
                "money": money,
                "base": currency.to_decimal(payment.base_credits),
                "bonus": currency.to_decimal(payment.bonus_credits),
            },
            gettext("New balance: %(balance)s %(money)s") % {"balance": balance.balance_decimal, "money": money},
            "",
            gettext("Receipt: %(url)s") % {"url": receipt_url},
        ]
    send_mail(
        subject=subject,
        message="\n".join(lines) + "\n",
        from_email=settings.DEFAULT_FROM_EMAIL,
        recipient_list=[payment.user.email],
        fail_silently=False,
    )
    return True
