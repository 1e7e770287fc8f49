"""CoinPayments API v1 client (https://www.coinpayments.net/apidoc). No models, no services.

Every call is a form-encoded POST of `version=1, cmd, key, format=json, …`, signed with an
`HMAC` header: hex HMAC-SHA512 of the exact body bytes sent, keyed with the private key. We
encode the body ourselves and sign those bytes, so what is signed is what goes on the wire.

Retries: a request that never reached the provider (connection refused, connect timeout) is
always safe to repeat. A read timeout or a 5xx is ambiguous: the provider may have acted. Reads
(`get_tx_info_multi`) repeat anyway; `create_transaction` does not blindly repeat, the caller
first asks `find_transaction_by_invoice` whether the first attempt got through (see services).
"""

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlencode

import requests
from django.conf import settings

logger = logging.getLogger(__name__)

MULTI_BATCH = 25  # the API's limit for get_tx_info_multi


class CoinPaymentsError(Exception):
    """The provider answered `error != "ok"`: a definite refusal, carrying its message."""


class CoinPaymentsUnavailable(Exception):
    """We could not get an answer (timeouts, 5xx, bad JSON) after the retries."""

    def __init__(self, message: str, *, ambiguous: bool) -> None:
        super().__init__(message)
        # True when the provider may have acted on the request (read timeout, 5xx).
        self.ambiguous = ambiguous


@dataclass(frozen=True)
class Config:
    api_url: str
    public_key: str
    private_key: str
    merchant_id: str
    ipn_secret: str
    timeout: float = 10.0
    max_retries: int = 3
    backoff: float = 0.5

    @classmethod
    def from_settings(cls) -> "Config":
        return cls(
            api_url=settings.COINPAYMENTS_API_URL,
            public_key=settings.COINPAYMENTS_PUBLIC_KEY,
            private_key=settings.COINPAYMENTS_PRIVATE_KEY,
            merchant_id=settings.COINPAYMENTS_MERCHANT_ID,
            ipn_secret=settings.COINPAYMENTS_IPN_SECRET,
            timeout=settings.COINPAYMENTS_TIMEOUT_SECONDS,
            max_retries=settings.COINPAYMENTS_MAX_RETRIES,
        )

    @property
    def configured(self) -> bool:
        return bool(self.public_key and self.private_key and self.merchant_id and self.ipn_secret)


def sign(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha512).hexdigest()


class Client:
    def __init__(
        self,
        config: Config | None = None,
        *,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] | None = None,
        budget: float | None = None,
    ) -> None:
        self.config = config or Config.from_settings()
        self.session = session or requests.Session()
        self.sleep = sleep or (lambda seconds: time.sleep(seconds))
        # A client serving a member's request gets a time budget for all its calls together
        # (retries, backoff, the invoice look-up): the request must end before gunicorn kills it.
        self.deadline = time.monotonic() + budget if budget is not None else None

    def _time_left(self) -> float:
        """Seconds this call may wait: the configured timeout, cut to what the budget leaves."""
        if self.deadline is None:
            return self.config.timeout
        return min(self.config.timeout, self.deadline - time.monotonic())

    # --- transport ----------------------------------------------------------------------

    def _post_once(self, cmd: str, params: dict[str, Any]) -> dict[str, Any]:
        fields = {"version": "1", "cmd": cmd, "key": self.config.public_key, "format": "json"}
        fields.update({k: str(v) for k, v in params.items() if v is not None})
        body = urlencode(fields).encode()
        headers = {
            "HMAC": sign(self.config.private_key, body),
            "Content-Type": "application/x-www-form-urlencoded",
        }
        # Timeout on connect and on each read. Fallback: a connect timeout is retried (nothing was
        # sent); a read timeout is ambiguous, so create_transaction is not repeated blindly (the
        # checkout looks its invoice up first) and the poller / IPN settle the payment later.
        response = self.session.post(self.config.api_url, data=body, headers=headers, timeout=self._time_left())
        if response.status_code >= 500:
            raise CoinPaymentsUnavailable(f"CoinPayments answered HTTP {response.status_code}.", ambiguous=True)
        try:
            # Decimals, not floats: the coin amount is kept exactly as the provider wrote it.
            payload = json.loads(response.content, parse_float=Decimal)
        except ValueError:
            raise CoinPaymentsUnavailable(
                f"CoinPayments answered HTTP {response.status_code} without JSON.", ambiguous=True
            ) from None
        if not isinstance(payload, dict):
            raise CoinPaymentsUnavailable("CoinPayments answered with unexpected JSON.", ambiguous=True)
        if payload.get("error") != "ok":
            raise CoinPaymentsError(str(payload.get("error") or "CoinPayments refused the request."))
        result = payload.get("result")
        return result if isinstance(result, dict) else {"value": result}

    def call(self, cmd: str, params: dict[str, Any], *, retry_ambiguous: bool = True) -> dict[str, Any]:
        """One API command with bounded retries and exponential backoff on transient failures."""
        attempt = 0
        while True:
            attempt += 1
            if self._time_left() <= 0:
                # Out of budget before sending: certainly not acted on (ambiguous=False).
                raise CoinPaymentsUnavailable("CoinPayments did not answer in time.", ambiguous=False)
            try:
                return self._post_once(cmd, params)
            except requests.ConnectTimeout:
                # Never connected: the provider cannot have acted on it.
                error = CoinPaymentsUnavailable("CoinPayments could not be reached.", ambiguous=False)
            except (requests.ConnectionError, requests.Timeout) as exc:
                # A read timeout or a dropped connection may come after the provider acted.
                error = CoinPaymentsUnavailable(f"CoinPayments did not answer ({type(exc).__name__}).", ambiguous=True)
            except CoinPaymentsUnavailable as exc:
                error = exc
            if attempt > self.config.max_retries or (error.ambiguous and not retry_ambiguous):
                logger.warning("CoinPayments %s: giving up after %s attempt(s): %s", cmd, attempt, error)
                raise error
            delay = self.config.backoff * 2 ** (attempt - 1)
            if self.deadline is not None and time.monotonic() + delay >= self.deadline:
                logger.warning("CoinPayments %s: out of time after %s attempt(s): %s", cmd, attempt, error)
                raise error
            logger.info("CoinPayments %s: attempt %s failed (%s); retrying in %.1fs", cmd, attempt, error, delay)
            self.sleep(delay)

    # --- commands -----------------------------------------------------------------------

    def create_transaction(
        self,
        *,
        amount: str,
        currency1: str,
        currency2: str,
        buyer_email: str,
        invoice: str,
        ipn_url: str,
        item_name: str = "",
    ) -> dict[str, Any]:
        """`create_transaction`. Result: amount, txn_id, address, confirms_needed, timeout,
        checkout_url, status_url, qrcode_url. Never repeated after an ambiguous failure here."""
        return self.call(
            "create_transaction",
            {
                "amount": amount,
                "currency1": currency1,
                "currency2": currency2,
                "buyer_email": buyer_email,
                "invoice": invoice,
                "ipn_url": ipn_url,
                "item_name": item_name,
            },
            retry_ambiguous=False,
        )

    def get_tx_ids(self, *, newer: int, limit: int = 100) -> list[str]:
        result = self.call("get_tx_ids", {"newer": newer, "limit": limit})
        value = result.get("value", [])
        return [str(v) for v in value] if isinstance(value, list) else []

    def get_tx_info(self, *, txid: str, full: bool = False) -> dict[str, Any]:
        return self.call("get_tx_info", {"txid": txid, "full": 1 if full else None})

    def get_tx_info_multi(self, txids: Iterable[str]) -> dict[str, dict[str, Any]]:
        """Status of up to 25 transactions in one call: {txn_id: {error, status, status_text,
        amountf, receivedf, recv_confirms, time_expires, …}}."""
        ids = list(txids)
        if not ids:
            return {}
        if len(ids) > MULTI_BATCH:
            raise ValueError(f"get_tx_info_multi takes at most {MULTI_BATCH} ids.")
        result = self.call("get_tx_info_multi", {"txid": "|".join(ids)})
        return {k: v for k, v in result.items() if isinstance(v, dict)}

    def find_transaction_by_invoice(self, *, invoice: str, newer: int) -> tuple[str, dict[str, Any]] | None:
        """After an ambiguous create: did the provider make a transaction for this invoice?

        Lists the transactions created since `newer` and reads each one's checkout data
        (`get_tx_info` with `full=1` carries the invoice we sent).
        """
        for txid in self.get_tx_ids(newer=newer):
            info = self.get_tx_info(txid=txid, full=True)
            checkout = info.get("checkout")
            if isinstance(checkout, dict) and str(checkout.get("invoice", "")) == invoice:
                return txid, info
        return None


# --- IPN ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Ipn:
    fields: dict[str, str]

    def get(self, key: str) -> str:
        return self.fields.get(key, "")

    @property
    def status(self) -> int | None:
        try:
            return int(self.get("status"))
        except ValueError:
            return None


class MalformedIpn(ValueError):
    """Not an IPN anyone could have sent: not UTF-8, or a NUL character (which no text column
    can store). Answered 400 so the sender stops, never 503 (that means "retry")."""


def parse_ipn(body: bytes) -> Ipn:
    """The IPN's form fields. Raises MalformedIpn."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedIpn("The IPN body is not UTF-8 text.") from None
    fields = dict(parse_qsl(text, keep_blank_values=True))
    if "\x00" in text or any("\x00" in k or "\x00" in v for k, v in fields.items()):
        raise MalformedIpn("The IPN body holds a NUL character.")
    return Ipn(fields)


def verify_ipn_signature(*, secret: str, body: bytes, header: str) -> bool:
    """Constant-time comparison of the `HMAC` header with HMAC-SHA512(secret, raw body)."""
    if not secret or not header:
        return False
    return hmac.compare_digest(sign(secret, body), header.strip().lower())
