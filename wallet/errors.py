"""Typed ledger errors, in the site's one error family: each carries the status and code an API
answers with when nothing more specific catches it."""

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from core.errors import GoldbookError
from core.idempotency import IdempotencyConflict as RequestKeyConflict


class WalletError(GoldbookError):
    status = 400
    code = "wallet_error"


class InvalidAmount(WalletError):
    code = "invalid_amount"


class CurrencyMismatch(WalletError):
    code = "currency_mismatch"


class InsufficientFunds(WalletError):
    status = 402
    code = "insufficient_funds"

    def __init__(self, *, available: int, required: int) -> None:
        self.available = available
        self.required = required
        super().__init__(
            _("Insufficient funds: %(available)s available, %(required)s required.")
            % {"available": available, "required": required}
        )
        self.extra = {}  # amounts are minor units: each app words its own 402 in its currency

    @property
    def needed(self) -> int:
        return self.required - self.available


class IdempotencyConflict(WalletError, RequestKeyConflict):
    """The key was used before for an operation with different parameters: the ledger's case of
    the site's one idempotency conflict (a 409 `idempotency_conflict` wherever it surfaces)."""

    status = 409
    code = "idempotency_conflict"


class HoldNotPending(WalletError):
    status = 409
    code = "hold_not_pending"


class AlreadyReversed(WalletError):
    status = 409
    code = "already_reversed"


class AdjustmentNotAllowed(WalletError):
    status = 403
    code = "adjustment_not_allowed"


class AccountOnHold(WalletError):
    """The member is on hold for review: what would leave their wallet is refused until staff
    clear it (their purchases and other incoming credits still arrive)."""

    status = 403
    code = "account_on_hold"
    default_message = gettext_lazy(
        "Your account is on hold for review: spending, transfers and payouts are paused until our "
        "staff have looked at it. Purchases still reach your balance. Please contact support."
    )


class MemberHoldError(WalletError):
    status = 409
    code = "member_hold_conflict"
