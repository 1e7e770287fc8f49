"""Typed rewards errors, members of the site's one error family (`core.errors.GoldbookError`):
each carries its HTTP status and code, so the API answers them without a mapping of its own."""

from core.errors import GoldbookError


class RewardsError(GoldbookError):
    code = "rewards_error"
    status = 400
    default_message = "The rewards request could not be completed."


class InvalidEvent(RewardsError):
    code = "invalid_event"
    default_message = "The activity event is not valid."


class BadSignature(RewardsError):
    code = "bad_signature"
    status = 401
    default_message = "Unknown integration or bad signature."


class EventConflict(RewardsError):
    code = "event_conflict"
    status = 409
    default_message = "This event_id was already received with different content."


class RewardUnavailable(RewardsError):
    code = "reward_unavailable"
    status = 404
    default_message = "This reward is not available."


class OutOfStock(RewardsError):
    code = "out_of_stock"
    status = 409
    default_message = "This reward is out of stock."


class LimitReached(RewardsError):
    code = "limit_reached"
    status = 409
    default_message = "You have redeemed this reward as many times as it allows."


class RedemptionNotPending(RewardsError):
    code = "redemption_not_pending"
    status = 409
    default_message = "This redemption is no longer pending."


class BountyNotFound(RewardsError):
    code = "bounty_not_found"
    status = 404
    default_message = "No such bounty."


class NotOfferer(RewardsError):
    code = "not_offerer"
    status = 403
    default_message = "Only the member who offered the bounty can do this."


class BountyClosed(RewardsError):
    code = "bounty_closed"
    status = 409
    default_message = "This bounty is closed."


class BountyHasAnswers(RewardsError):
    code = "bounty_has_answers"
    status = 409
    default_message = "Answers have been posted: award the bounty instead of cancelling it."


class InvalidBounty(RewardsError):
    code = "invalid_bounty"
    default_message = "The bounty is not valid."


class WinnerNotFound(RewardsError):
    code = "winner_not_found"
    status = 404
    default_message = "That is not an answer on this thread by a Goldbook member."


class Throttled(RewardsError):
    code = "throttled"
    status = 429
    default_message = "Too many attempts. Try again later."


class ReferralRefused(RewardsError):
    code = "referral_refused"
    default_message = "This referral link is not valid."
