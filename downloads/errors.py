"""Typed download errors, members of the site's one error family (`core.errors.GoldbookError`):
the API answers them with `error_body(exc)` and `exc.status`, pages show `exc.message`.

Running short of credits is wallet's `InsufficientFunds`; `Shortfall` tells it the way downloads
always has, for the API (the seed's 402 body) and the pages alike.
"""

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, cast

from django.utils.translation import gettext, gettext_lazy

from core.errors import GoldbookError
from core.idempotency import IdempotencyConflict
from wallet.errors import InsufficientFunds
from wallet.selectors import default_currency

# Messages translate when shown (the API's `message` follows Accept-Language); typed as str, the
# type GoldbookError.message has, since a lazy string is one wherever it is used.
_ = cast("Callable[[str], str]", gettext_lazy)


class DownloadError(GoldbookError):
    code = "download_error"
    status = 400
    default_message = _("The download could not be completed.")

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        # Text now, in the language of the request that raised it (JSON bodies need a str).
        super().__init__(str(message if message is not None else self.default_message), **kwargs)


class InvalidRequest(DownloadError):
    code = "invalid_request"


class KeyReused(DownloadError, IdempotencyConflict):
    """An Idempotency-Key reused for a different download (pages catch it as a DownloadError)."""

    status = 409
    code = "idempotency_conflict"
    default_message = IdempotencyConflict.default_message


class InvalidItems(DownloadError):
    code = "invalid_items"


class NotEnoughSongs(DownloadError):
    code = "not_enough_songs"


class ItemUnavailable(DownloadError):
    code = "item_not_found"
    status = 404
    default_message = _("There is no downloadable item with that id.")


class JobNotFound(DownloadError):
    code = "job_not_found"
    status = 404
    default_message = _("There is no download job with that id on your account.")


class ItemForbidden(DownloadError):
    code = "members_only"
    status = 403


class AdsDisabled(DownloadError):
    code = "ads_unavailable"
    status = 503


class AdTokenInvalid(DownloadError):
    code = "invalid_ad_token"


class AdTokenExpired(DownloadError):
    code = "ad_token_expired"


class AdTokenUsed(DownloadError):
    code = "ad_token_used"
    status = 409


class AdDailyLimit(DownloadError):
    code = "ad_daily_limit"
    status = 429


class UploadQuotaExceeded(DownloadError):
    code = "upload_quota_exceeded"
    status = 413
    default_message = _("This upload would exceed your upload quota.")


class VerificationError(DownloadError):
    code = "verification_error"


@dataclass(frozen=True)
class Shortfall:
    """Credits missing for `what` ("download 3 songs"), in the site currency."""

    required: Decimal
    available: Decimal
    needed: Decimal
    what: str

    @classmethod
    def of(cls, exc: InsufficientFunds, *, what: str) -> "Shortfall":
        currency = default_currency()
        return cls(
            required=currency.to_decimal(exc.required),
            available=currency.to_decimal(exc.available),
            needed=currency.to_decimal(exc.needed),
            what=what,
        )

    def body(self) -> dict[str, Any]:
        """The seed's 402 body, key for key and in its order."""
        return {
            "error": "Insufficient credits",
            "credits_required": self.required,
            "credits_available": self.available,
            "credits_needed": self.needed,
            "message": gettext("You need %(needed)s more credits to %(what)s. Please purchase more credits.")
            % {"needed": self.needed, "what": self.what},
        }
