"""Typed download errors. The API and views map them to status codes; nothing here knows HTTP."""


class DownloadError(Exception):
    code = "download_error"
    status = 400

    def __init__(self, message: str, **extra: object) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra


class InvalidRequest(DownloadError):
    code = "invalid_request"


class InvalidItems(DownloadError):
    code = "invalid_items"


class NotEnoughSongs(DownloadError):
    code = "not_enough_songs"


class ItemUnavailable(DownloadError):
    code = "item_not_found"
    status = 404


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


class VerificationError(DownloadError):
    code = "verification_error"
