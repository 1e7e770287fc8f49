"""Typed rewards errors, members of the site's one error family (`core.errors.GoldbookError`):
each carries its HTTP status and code, so the API answers them without a mapping of its own."""

from collections.abc import Callable
from typing import Any, cast

from django.utils.translation import gettext_lazy

from core.errors import GoldbookError

# Messages translate when shown (the API's `message` follows Accept-Language); typed as str, the
# type GoldbookError.message has, since a lazy string is one wherever it is used.
_ = cast("Callable[[str], str]", gettext_lazy)


class RewardsError(GoldbookError):
    code = "rewards_error"
    status = 400
    default_message = _("The rewards request could not be completed.")

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        # Text now, in the language of the request that raised it (JSON bodies need a str).
        super().__init__(str(message if message is not None else self.default_message), **kwargs)


class InvalidEvent(RewardsError):
    code = "invalid_event"
    default_message = _("The activity event is not valid.")


class BadSignature(RewardsError):
    code = "bad_signature"
    status = 401
    default_message = _("Unknown integration or bad signature.")


class EventConflict(RewardsError):
    code = "event_conflict"
    status = 409
    default_message = _("This event_id was already received with different content.")


class RewardUnavailable(RewardsError):
    code = "reward_unavailable"
    status = 404
    default_message = _("This reward is not available.")


class OutOfStock(RewardsError):
    code = "out_of_stock"
    status = 409
    default_message = _("This reward is out of stock.")


class LimitReached(RewardsError):
    code = "limit_reached"
    status = 409
    default_message = _("You have redeemed this reward as many times as it allows.")


class RedemptionNotPending(RewardsError):
    code = "redemption_not_pending"
    status = 409
    default_message = _("This redemption is no longer pending.")


class BountyNotFound(RewardsError):
    code = "bounty_not_found"
    status = 404
    default_message = _("No such bounty.")


class NotOfferer(RewardsError):
    code = "not_offerer"
    status = 403
    default_message = _("Only the member who offered the bounty can do this.")


class BountyClosed(RewardsError):
    code = "bounty_closed"
    status = 409
    default_message = _("This bounty is closed.")


class BountyHasAnswers(RewardsError):
    code = "bounty_has_answers"
    status = 409
    default_message = _("Answers have been posted: award the bounty instead of cancelling it.")


class InvalidBounty(RewardsError):
    code = "invalid_bounty"
    default_message = _("The bounty is not valid.")


class WinnerNotFound(RewardsError):
    code = "winner_not_found"
    status = 404
    default_message = _("That is not an answer on this thread by a Goldbook member.")


class Throttled(RewardsError):
    code = "throttled"
    status = 429
    default_message = _("Too many attempts. Try again later.")


class ReferralRefused(RewardsError):
    code = "referral_refused"
    default_message = _("This referral link is not valid.")
