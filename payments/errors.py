"""Typed payment errors, members of the site's one error family (`core.errors.GoldbookError`).
Each carries the HTTP status and short code the API answers with (core.api turns any of them
into the JSON error body); pages show their message."""

from collections.abc import Callable
from typing import Any, cast

from django.utils.translation import gettext_lazy

from core.errors import GoldbookError
from core.idempotency import IdempotencyConflict, IdempotencyInProgress

# Messages translate when shown (the API's `message` follows Accept-Language); typed as str, the
# type GoldbookError.message has, since a lazy string is one wherever it is used.
_ = cast("Callable[[str], str]", gettext_lazy)


class PaymentError(GoldbookError):
    status = 400
    code = "payment_error"
    default_message = _("The payment could not be completed.")

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        # Text now, in the language of the request that raised it (JSON bodies need a str).
        super().__init__(str(message if message is not None else self.default_message), **kwargs)


class InvalidPurchase(PaymentError):
    code = "invalid_request"


class PackageNotFound(PaymentError):
    status = 404
    code = "package_not_found"


class PaymentNotFound(PaymentError):
    """Also what someone else's payment answers: it exists for nobody but its owner."""

    status = 404
    code = "payment_not_found"


class UnsupportedPaymentMethod(PaymentError):
    code = "unsupported_payment_method"


class UnsupportedCoin(PaymentError):
    code = "unsupported_currency"


class AmountOutOfRange(PaymentError):
    code = "amount_out_of_range"


class PurchaseLimitReached(PaymentError):
    status = 403
    code = "purchase_limit_reached"


class ProviderFailed(PaymentError):
    """The payment provider refused or could not be reached: answered as 502."""

    status = 502
    code = "provider_error"


class ProviderNotConfigured(PaymentError):
    """This site has no keys for the provider: nothing to retry, so 503, not a gateway error."""

    status = 503
    code = "not_configured"


class KeyReused(PaymentError, IdempotencyConflict):
    status = 409
    code = "idempotency_conflict"
    default_message = IdempotencyConflict.default_message


class KeyInProgress(PaymentError, IdempotencyInProgress):
    status = 409
    code = "idempotency_in_progress"
    default_message = IdempotencyInProgress.default_message


class MessageTooLarge(PaymentError):
    status = 413
    code = "too_large"


class MalformedMessage(PaymentError):
    code = "invalid_request"


class MethodUnavailable(PaymentError):
    status = 403
    code = "method_unavailable"


class WalletNotLinked(PaymentError):
    status = 403
    code = "wallet_not_linked"


class HashClaimed(PaymentError):
    status = 409
    code = "tx_hash_claimed"


class ClaimRejected(PaymentError):
    status = 422
    code = "deposit_rejected"


class ChainUnavailable(PaymentError):
    status = 503
    code = "chain_unavailable"


class WalletLinkFailed(PaymentError):
    code = "wallet_link_failed"


class WalletTaken(PaymentError):
    status = 409
    code = "wallet_taken"


class RefundNotAllowed(PaymentError):
    status = 409
    code = "refund_not_allowed"


class RefundShortfall(RefundNotAllowed):
    """The user already spent part of the credits: the refund would overdraw them."""

    code = "refund_shortfall"

    def __init__(self, message: str, *, shortfall: int) -> None:
        super().__init__(message, shortfall=shortfall)
        self.shortfall = shortfall


class TransientFailure(PaymentError):
    """Our side failed in a way a retry may fix (database busy, lock timeout): answered as 503."""

    status = 503
    code = "temporarily_unavailable"
