"""Writes for payments, one module per capability:

- `quotes`: prices and per-member purchase limits;
- `completion`: the only place that credits a purchase (and the receipt that follows it);
- `coinpayments`: checkout with the provider, IPNs and poll answers;
- `e9th`: on-chain stablecoin deposits; `wallet_linking`: the wallet they must come from;
- `polling`: the poller's pass over open payments, and re-processing a stored message;
- `refunds` (maker-checker), `legacy` (old plans to credits), `demo_method` (development sites);
- `_state` and `_messages`: the state machine's primitives and raw provider messages, shared.

Every credit goes through `completion.complete_locked`, inside one durable transaction with the
payment row locked (`SELECT … FOR NO KEY UPDATE`): whoever gets the lock first (IPN, poller, a
user resubmitting) credits; the others find the payment completed and stop.

Lock order: the payment row first, then the wallet's accounts (wallet.services locks those).
No outbound HTTP call is ever made while a payment row is locked: provider calls happen before
the transaction opens, and chain receipts are re-checked right before it.

Callers import from here (`from payments import services; services.quote(...)`).
"""

from ._state import PAYMENT_MUTABLE
from .checkout import coinpayments_checkout
from .coinpayments import IpnResult, coinpayments_client, coinpayments_configured, coinpayments_ipn_receive
from .completion import send_purchase_receipt
from .demo_method import DEMO_TTL, demo_checkout, demo_enabled, demo_pay
from .e9th import (
    ChainOutcome,
    ChainStatus,
    e9th_client,
    e9th_purchase,
    e9th_recheck,
    e9th_token_decimals,
    token_units_for,
)
from .legacy import LEGACY_PLANS, legacy_plan_convert
from .polling import PollReport, message_reprocess, poll_payments
from .quotes import COUNTED_STATUSES, Quote, quote
from .refunds import refund_approve, refund_reject, refund_request
from .wallet_linking import CHALLENGE_TTL, wallet_challenge_create, wallet_link

__all__ = [
    "CHALLENGE_TTL",
    "COUNTED_STATUSES",
    "DEMO_TTL",
    "LEGACY_PLANS",
    "PAYMENT_MUTABLE",
    "ChainOutcome",
    "ChainStatus",
    "IpnResult",
    "PollReport",
    "Quote",
    "coinpayments_checkout",
    "coinpayments_configured",
    "coinpayments_client",
    "coinpayments_ipn_receive",
    "demo_checkout",
    "demo_enabled",
    "demo_pay",
    "e9th_client",
    "e9th_purchase",
    "e9th_recheck",
    "e9th_token_decimals",
    "legacy_plan_convert",
    "message_reprocess",
    "poll_payments",
    "quote",
    "refund_approve",
    "refund_reject",
    "refund_request",
    "send_purchase_receipt",
    "token_units_for",
    "wallet_challenge_create",
    "wallet_link",
]
