"""E9th chain client: plain Ethereum JSON-RPC over HTTP, plus receipt checks. No models.

Only three calls are needed: `eth_blockNumber`, `eth_getTransactionReceipt` and, when the token's
decimals are not configured, `eth_call` of `decimals()`. The checks on a receipt live here as pure
functions so they can be tested against fixtures and against a real local chain alike.
"""

import itertools
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests
from django.conf import settings
from django.utils.translation import gettext_noop

logger = logging.getLogger(__name__)

TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
DECIMALS_SELECTOR = "0x313ce567"
TX_HASH_RE = re.compile(r"^0x[0-9a-fA-F]{64}$")
ADDRESS_RE = re.compile(r"^0x[0-9a-fA-F]{40}$")


class ChainUnavailable(Exception):
    """The node did not answer usefully (network, HTTP error, JSON-RPC error)."""


def normalise_hash(value: str) -> str | None:
    value = (value or "").strip()
    return value.lower() if TX_HASH_RE.match(value) else None


def normalise_address(value: str) -> str | None:
    value = (value or "").strip()
    return value.lower() if ADDRESS_RE.match(value) else None


def _topic_address(topic: str) -> str:
    return "0x" + topic[-40:].lower()


@dataclass(frozen=True)
class Receipt:
    tx_hash: str
    status: int
    block_number: int
    block_hash: str
    logs: list[dict[str, Any]]

    @classmethod
    def from_rpc(cls, data: dict[str, Any]) -> "Receipt":
        return cls(
            tx_hash=str(data.get("transactionHash", "")).lower(),
            status=int(str(data.get("status", "0x0")), 16),
            block_number=int(str(data["blockNumber"]), 16),
            block_hash=str(data.get("blockHash", "")).lower(),
            logs=[log for log in data.get("logs") or [] if isinstance(log, dict)],
        )


@dataclass(frozen=True)
class Deposit:
    sender: str
    recipient: str
    value: int


class ReceiptRejected(Exception):
    """The receipt fails a check; the message says which, for the 422 answer. `template` and
    `params` let the service say it in the member's language (the templates are marked with
    gettext_noop for the catalogue; str() is the English sentence, for logs and the stored message)."""

    def __init__(self, template: str, **params: object) -> None:
        self.template, self.params = template, params
        super().__init__(template % params if params else template)


def check_deposit(receipt: Receipt, *, token: str, sender: str, recipient: str, min_value: int) -> Deposit:
    """Status 1; exactly one ERC-20 Transfer log (3 topics) emitted by `token`, from `sender`
    to `recipient`, for at least `min_value` token units. Raises ReceiptRejected."""
    if receipt.status != 1:
        raise ReceiptRejected(gettext_noop("The transaction was reverted on chain."))
    transfers = [
        log
        for log in receipt.logs
        if len(log.get("topics") or []) == 3 and str(log["topics"][0]).lower() == TRANSFER_TOPIC
    ]
    from_token = [log for log in transfers if str(log.get("address", "")).lower() == token.lower()]
    if not from_token:
        raise ReceiptRejected(gettext_noop("The transaction moved no E9th stablecoin (wrong token contract)."))
    if len(from_token) != 1:
        raise ReceiptRejected(gettext_noop("The transaction must contain exactly one E9th token transfer."))
    log = from_token[0]
    deposit = Deposit(
        sender=_topic_address(str(log["topics"][1])),
        recipient=_topic_address(str(log["topics"][2])),
        value=int(str(log.get("data") or "0x0"), 16),
    )
    if deposit.sender != sender.lower():
        raise ReceiptRejected(gettext_noop("The tokens were not sent from your linked wallet."))
    if deposit.recipient != recipient.lower():
        raise ReceiptRejected(gettext_noop("The tokens were not sent to the deposit address."))
    if deposit.value < min_value:
        raise ReceiptRejected(
            gettext_noop("The transfer is too small: %(sent)s token units sent, %(required)s required."),
            sent=deposit.value,
            required=min_value,
        )
    return deposit


class Client:
    def __init__(
        self,
        rpc_url: str | None = None,
        *,
        session: requests.Session | None = None,
        timeout: float | None = None,
        retries: int = 2,
        sleep: Callable[[float], None] | None = None,
        budget: float | None = None,
    ) -> None:
        self.rpc_url = rpc_url or settings.E9TH_RPC_URL
        self.session = session or requests.Session()
        self.timeout = timeout or settings.E9TH_RPC_TIMEOUT_SECONDS
        self.retries = retries
        self.sleep = sleep or (lambda seconds: time.sleep(seconds))
        self._ids = itertools.count(1)
        # A client serving a member's request gets a time budget for all its calls together:
        # a claim makes up to four reads, each retried, and must end before gunicorn kills it.
        self.deadline = time.monotonic() + budget if budget is not None else None

    def _time_left(self) -> float:
        if self.deadline is None:
            return self.timeout
        return min(self.timeout, self.deadline - time.monotonic())

    def rpc(self, method: str, params: list[Any]) -> Any:
        if not self.rpc_url:
            raise ChainUnavailable("E9TH_RPC_URL is not configured.")
        for attempt in range(self.retries + 1):
            payload = {"jsonrpc": "2.0", "id": next(self._ids), "method": method, "params": params}
            if self._time_left() <= 0:
                raise ChainUnavailable(f"The chain node did not answer {method} in time.")
            try:
                # Timeout on connect and on each read. Fallback: reads are retried with backoff,
                # then ChainUnavailable: the claim answers 503 (nothing credited, the member
                # resubmits) and the poller re-checks open claims every minute.
                response = self.session.post(self.rpc_url, json=payload, timeout=self._time_left())
                if response.status_code >= 500:
                    raise ChainUnavailable(f"The chain node answered HTTP {response.status_code}.")
                data = response.json()
            except (requests.RequestException, ValueError, ChainUnavailable) as exc:
                # All three calls are reads: repeating them is always safe.
                delay = 0.2 * 2**attempt
                out_of_time = self.deadline is not None and time.monotonic() + delay >= self.deadline
                if attempt == self.retries or out_of_time:
                    raise ChainUnavailable(f"The chain node did not answer {method}: {exc}") from None
                self.sleep(delay)
                continue
            if not isinstance(data, dict):
                raise ChainUnavailable(f"The chain node answered {method} with unexpected JSON.")
            if data.get("error"):
                raise ChainUnavailable(f"The chain node refused {method}: {data['error']}")
            return data.get("result")
        raise ChainUnavailable(f"The chain node did not answer {method}.")  # pragma: no cover

    def block_number(self) -> int:
        return int(str(self.rpc("eth_blockNumber", [])), 16)

    def receipt(self, tx_hash: str) -> Receipt | None:
        data = self.rpc("eth_getTransactionReceipt", [tx_hash])
        if not data:
            return None
        if not isinstance(data, dict) or not data.get("blockNumber"):
            return None  # known to the node but not mined yet
        try:
            return Receipt.from_rpc(data)
        except (KeyError, ValueError, TypeError) as exc:
            raise ChainUnavailable(f"Unreadable receipt for {tx_hash}: {exc}") from None

    def block_hash_at(self, number: int) -> str | None:
        """The canonical chain's block hash at `number` (lower case), None when the node has no
        block there (yet)."""
        block = self.rpc("eth_getBlockByNumber", [hex(number), False])
        if not block:
            return None
        if not isinstance(block, dict) or not isinstance(block.get("hash"), str):
            raise ChainUnavailable(f"Unreadable block {number}.")
        return str(block["hash"]).lower()

    def token_decimals(self, token: str) -> int:
        result = self.rpc("eth_call", [{"to": token, "data": DECIMALS_SELECTOR}, "latest"])
        try:
            return int(str(result), 16)
        except ValueError:
            raise ChainUnavailable("The token contract did not answer decimals().") from None


def confirmations(*, latest_block: int, receipt: Receipt) -> int:
    return max(0, latest_block - receipt.block_number + 1)
