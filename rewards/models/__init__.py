"""Rewards: activity intake, earning rules and awards, bounties, the reward store, leaderboards.

Amounts are integer minor units of the site currency (`BigIntegerField`), converted to `Decimal`
at the edges. Balances move only through `wallet.services`; these rows record *why* they moved.
One module per capability, as in `rewards.services`; import the models from here.
"""

from .bounties import Bounty, BountyStatus
from .earning import (
    Award,
    AwardStatus,
    Booster,
    Cycle,
    DebtRecovery,
    EarningRule,
    EarningTotal,
    LeaderboardCell,
    LeaderboardSync,
    Period,
    RewardDebt,
    RewardProfile,
)
from .intake import ActivityEvent, DeletedObject, EventStatus, EventType, Integration, MemberLink, ObjectVote
from .referrals import Referral, ReferralStatus
from .store import GroupGrant, Redemption, RedemptionStatus, Reward, RewardKind, UserBadge

__all__ = [
    "ActivityEvent",
    "Award",
    "AwardStatus",
    "Booster",
    "Bounty",
    "BountyStatus",
    "Cycle",
    "DebtRecovery",
    "DeletedObject",
    "EarningRule",
    "EarningTotal",
    "EventStatus",
    "EventType",
    "GroupGrant",
    "Integration",
    "LeaderboardCell",
    "LeaderboardSync",
    "MemberLink",
    "ObjectVote",
    "Period",
    "Redemption",
    "RedemptionStatus",
    "Referral",
    "ReferralStatus",
    "Reward",
    "RewardDebt",
    "RewardKind",
    "RewardProfile",
    "UserBadge",
]
