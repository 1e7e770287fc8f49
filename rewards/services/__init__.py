"""Writes for rewards, one module per capability: activity intake (`intake`; one event or a
batch through `intake_batch`, applied by `applying`), awards and
reversals (`awards`), the reward store (`store`), bounties (`bounties`), referrals
(`referrals`) and leaderboard totals (`leaderboards`). Helpers they share are in `_shared`.
Callers import the public names from here: `from rewards import services`.

Balances move only through `wallet.services`. Lock order (the house order, domain rows first):
the user's `RewardProfile` (or the bounty / redemption row), then the reward row (stock), then
wallet accounts (inside wallet.services). The profile lock serialises everything one user earns
or redeems, which is what keeps the daily cap, per-cycle limits and per-user limits exact under
concurrency.

Transactions: the user-facing money operations (redeem, bounties, staff decisions) open
`atomic(durable=True)`. `activity_record`, `pending_events_apply` and the referral services open
a plain (nestable) `atomic()` on purpose: they run inside one another (a referral payout records
its `referral.converted` event in the referral's transaction), and an award that commits with
the act that earned it is what we want. Other apps never call these: they record domain events,
and `rewards.handlers` calls the services (see core/events.py).
"""

from ._shared import GOLDBOOK_SOURCE, profile_ensure
from .awards import award_reverse, daily_cap_minor
from .bounties import bounties_expire, bounty_award, bounty_cancel, bounty_create
from .intake import (
    RecordResult,
    activity_record,
    event_retry,
    integration_create,
    integration_rotate,
    pending_events_apply,
    pending_events_sweep,
)
from .intake_batch import BATCH_MAX, BatchItem, EventSpec, Outcome, events_record
from .leaderboards import RebuildResult, leaderboards_rebuild, leaderboards_resync
from .referrals import referral_attach, referral_on_first_purchase, referral_review
from .store import RedeemResult, group_grants_expire, redemption_cancel, redemption_fulfil, reward_redeem

__all__ = [
    "BATCH_MAX",
    "BatchItem",
    "EventSpec",
    "Outcome",
    "events_record",
    "GOLDBOOK_SOURCE",
    "RebuildResult",
    "RecordResult",
    "RedeemResult",
    "activity_record",
    "award_reverse",
    "bounties_expire",
    "bounty_award",
    "bounty_cancel",
    "bounty_create",
    "daily_cap_minor",
    "event_retry",
    "group_grants_expire",
    "integration_create",
    "integration_rotate",
    "leaderboards_rebuild",
    "leaderboards_resync",
    "pending_events_apply",
    "pending_events_sweep",
    "profile_ensure",
    "redemption_cancel",
    "redemption_fulfil",
    "referral_attach",
    "referral_on_first_purchase",
    "referral_review",
    "reward_redeem",
]
