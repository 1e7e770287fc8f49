"""Fraud and abuse signals (issue 13; seed 002: "monitor for fraudulent deposits").

Signals span payments, rewards and accounts, so they live here on the top floor. Each kind is a
function computing its findings from bounded SQL aggregates, with thresholds in the FRAUD_*
settings: `deposits` (shared wallets and IPs, deposit velocity, flagged payments), `referrals`
(rings, referrals from the referrer's own IP or wallet), `farming` (voter groups, reversed
awards, earned coins moved out through bounties). `queue` lists what is not yet reviewed and
records staff decisions; holding a member goes through `wallet.services.member_hold`, which is
what freezes their spending (see wallet/services/member_holds.py).
"""

from .base import Evidence, Signal, SignalKind
from .queue import open_signals, signal_clear, signal_hold

__all__ = ["Evidence", "Signal", "SignalKind", "open_signals", "signal_clear", "signal_hold"]
