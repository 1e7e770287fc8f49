"""Typed rewards errors. Views and API handlers map them to status codes and messages."""


class RewardsError(Exception):
    code = "rewards_error"
    status = 400


class InvalidEvent(RewardsError):
    code = "invalid_event"


class RewardUnavailable(RewardsError):
    code = "reward_unavailable"
    status = 404


class OutOfStock(RewardsError):
    code = "out_of_stock"
    status = 409


class LimitReached(RewardsError):
    code = "limit_reached"
    status = 409


class RedemptionNotPending(RewardsError):
    code = "redemption_not_pending"
    status = 409


class BountyNotFound(RewardsError):
    code = "bounty_not_found"
    status = 404


class NotOfferer(RewardsError):
    code = "not_offerer"
    status = 403


class BountyClosed(RewardsError):
    code = "bounty_closed"
    status = 409


class BountyHasAnswers(RewardsError):
    code = "bounty_has_answers"
    status = 409


class InvalidBounty(RewardsError):
    code = "invalid_bounty"


class WinnerNotFound(RewardsError):
    code = "winner_not_found"
    status = 404


class ReferralRefused(RewardsError):
    code = "referral_refused"
