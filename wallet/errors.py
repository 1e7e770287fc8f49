"""Typed ledger errors. Views map them to status codes; nothing here knows about HTTP."""


class WalletError(Exception):
    code = "wallet_error"


class InvalidAmount(WalletError):
    code = "invalid_amount"


class CurrencyMismatch(WalletError):
    code = "currency_mismatch"


class InsufficientFunds(WalletError):
    code = "insufficient_funds"

    def __init__(self, *, available: int, required: int) -> None:
        self.available = available
        self.required = required
        super().__init__(f"Insufficient funds: {available} available, {required} required.")

    @property
    def needed(self) -> int:
        return self.required - self.available


class IdempotencyConflict(WalletError):
    """The key was used before for an operation with different parameters."""

    code = "idempotency_conflict"


class HoldNotPending(WalletError):
    code = "hold_not_pending"


class AlreadyReversed(WalletError):
    code = "already_reversed"


class AdjustmentNotAllowed(WalletError):
    code = "adjustment_not_allowed"
