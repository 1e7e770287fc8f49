"""Each fraud signal (issue 13) on a crafted history: what must be found, and the near miss
that must not be."""

from datetime import timedelta

import pytest
from django.utils import timezone

from accounts.models import KnownAddress
from payments.models import LinkedWallet, Payment, PaymentStatus, Provider
from portal.fraud import SignalKind, deposits, farming, open_signals, referrals, signal_clear, signal_hold
from rewards.models import Award, AwardStatus, Bounty, EarningRule, ObjectVote, Referral
from tests.factories import UserFactory, staff
from wallet.errors import MemberHoldError
from wallet.models import MemberHold
from wallet.selectors import member_on_hold

pytestmark = pytest.mark.django_db

WALLET = "0x" + "ab" * 20


def pay(user, cents, *, ago=timedelta(0), status=PaymentStatus.COMPLETED, **fields):
    at = timezone.now() - ago
    payment = Payment.objects.create(
        user=user,
        usd_cents=cents,
        base_credits=cents,
        provider=Provider.E9TH,
        status=status,
        completed_at=at if status == PaymentStatus.COMPLETED else None,
        **fields,
    )
    Payment.objects.filter(pk=payment.pk).update(created_at=at, updated_at=at)
    return payment


def kinds(found, kind):
    return [s for s in found if s.kind == kind]


# --- deposits -------------------------------------------------------------------------------------


def test_one_wallet_behind_several_accounts():
    a, b, c = UserFactory(), UserFactory(), UserFactory()
    pay(a, 2500, wallet_address=WALLET)
    pay(b, 2500, wallet_address=WALLET.upper().replace("0X", "0x"))  # the same address, other case
    LinkedWallet.objects.create(user=c, address=WALLET)
    pay(c, 2500, wallet_address="0x" + "cd" * 20)  # c's own payment from another wallet
    [signal] = deposits.shared_wallets()
    assert signal.subject == WALLET and set(signal.user_ids) == {a.pk, b.pk, c.pk}
    assert any("/admin/payments/payment/" in e.url for e in signal.evidence)
    assert any("linkedwallet" in e.url for e in signal.evidence)


def test_a_wallet_used_by_one_member_only_is_not_a_signal():
    a = UserFactory()
    pay(a, 2500, wallet_address=WALLET)
    pay(a, 2500, wallet_address=WALLET)
    LinkedWallet.objects.create(user=a, address=WALLET)
    assert deposits.shared_wallets() == []


def test_one_ip_behind_several_buyers_and_referrals():
    referrer, *others = [UserFactory() for _ in range(4)]
    for user in others[:2]:
        pay(user, 2500)
        KnownAddress.objects.create(user=user, ip="203.0.113.7")
    Referral.objects.create(referrer=referrer, referred=others[2], code="R1", ip="203.0.113.7")
    KnownAddress.objects.create(user=referrer, ip="203.0.113.7")  # signed in there, bought nothing
    [signal] = deposits.shared_ips()
    assert signal.subject == "203.0.113.7" and set(signal.user_ids) == {others[0].pk, others[1].pk, others[2].pk}


def test_an_ip_shared_by_members_who_never_bought_is_not_a_signal():
    for _ in range(4):
        KnownAddress.objects.create(user=UserFactory(), ip="198.51.100.1")
    assert deposits.shared_ips() == []


def test_deposits_far_above_the_members_history():
    steady, spiking, newcomer, small = UserFactory(), UserFactory(), UserFactory(), UserFactory()
    for days in (20, 30, 40):
        pay(steady, 5000, ago=timedelta(days=days))
        pay(spiking, 5000, ago=timedelta(days=days))
    pay(steady, 5000, ago=timedelta(hours=2))  # as usual
    pay(spiking, 20000, ago=timedelta(hours=3))
    pay(spiking, 20000, ago=timedelta(hours=1))  # $400 in a day against a usual $50
    pay(newcomer, 60000, ago=timedelta(hours=1))  # $600 on the first day
    pay(small, 10000, ago=timedelta(hours=1))  # new, but below the new-member threshold
    found = {int(s.subject): s for s in deposits.deposit_velocity()}
    assert set(found) == {spiking.pk, newcomer.pk}
    assert len(found[spiking.pk].evidence) == 2


def test_payments_flagged_for_review():
    member, clean = UserFactory(), UserFactory()
    pay(member, 2500, status=PaymentStatus.UNDERPAID)
    pay(member, 2500, flagged_for_review=True, excess_amount="3.5")
    late = pay(member, 2500, expires_at=timezone.now() - timedelta(hours=2))
    pay(member, 2500, status=PaymentStatus.CONFIRMING, status_detail="The block changed (chain reorganisation)")
    pay(clean, 2500, expires_at=timezone.now() + timedelta(hours=1))
    [signal] = deposits.flagged_payments()
    assert signal.user_ids == (member.pk,) and len(signal.evidence) == 4
    details = " ".join(e.detail for e in signal.evidence)
    for why in ("underpaid", "overpaid by 3.5", "paid after it expired", "chain reorganisation"):
        assert why in details
    assert any(e.label == f"Payment #{late.pk}" for e in signal.evidence)


# --- referrals ------------------------------------------------------------------------------------


def test_referral_rings_of_two_and_three_and_a_chain_that_is_not_one():
    a, b, c, d, e, f, g = [UserFactory() for _ in range(7)]
    Referral.objects.create(referrer=a, referred=b, code="x")
    Referral.objects.create(referrer=b, referred=a, code="x")
    Referral.objects.create(referrer=c, referred=d, code="x")
    Referral.objects.create(referrer=d, referred=e, code="x")
    Referral.objects.create(referrer=e, referred=c, code="x")
    Referral.objects.create(referrer=f, referred=g, code="x")  # a plain chain
    rings = sorted(referrals.referral_rings(), key=lambda s: len(s.user_ids))
    assert [set(r.user_ids) for r in rings] == [{a.pk, b.pk}, {c.pk, d.pk, e.pk}]
    assert len(rings[1].evidence) == 3


def test_referrals_from_the_referrers_own_ip_or_wallet():
    referrer, lone = UserFactory(), UserFactory()
    Referral.objects.create(referrer=referrer, referred=UserFactory(), code="x", same_ip=True)
    Referral.objects.create(referrer=referrer, referred=UserFactory(), code="x", same_wallet=True)
    Referral.objects.create(referrer=lone, referred=UserFactory(), code="y", same_ip=True)  # just one
    [signal] = referrals.referral_clusters()
    assert signal.subject == str(referrer.pk) and len(signal.user_ids) == 3


# --- reward farming --------------------------------------------------------------------------------


@pytest.fixture
def quality_rule():
    return EarningRule.objects.create(name="Quality post", event_type="post.upvoted", amount=500, min_upvotes=3)


def award(rule, user, key, **fields):
    return Award.objects.create(rule=rule, user=user, object_key=key, amount=500, base_amount=500, **fields)


def test_one_small_group_of_voters_behind_most_quality_awards(quality_rule):
    farmer, honest = UserFactory(), UserFactory()
    for i in range(6):
        award(quality_rule, farmer, f"forum:post:f{i}")
        for voter in ("sock1", "sock2", "sock3"):
            ObjectVote.objects.create(object_key=f"forum:post:f{i}", voter_key=voter)
        award(quality_rule, honest, f"forum:post:h{i}")
        for j in range(3):
            ObjectVote.objects.create(object_key=f"forum:post:h{i}", voter_key=f"fan{i}-{j}")
    [signal] = farming.voter_groups()
    assert signal.user_ids == (farmer.pk,)
    assert {e.label for e in signal.evidence} >= {"Voter sock1", "Voter sock2", "Voter sock3"}


def test_awards_reversed_often(quality_rule):
    churner, unlucky = UserFactory(), UserFactory()
    for i in range(4):
        award(quality_rule, churner, f"forum:post:c{i}", status=AwardStatus.REVERSED)
    award(quality_rule, churner, "forum:post:c9")
    for i in range(20):
        award(quality_rule, unlucky, f"forum:post:u{i}", status=AwardStatus.REVERSED if i < 3 else AwardStatus.ACTIVE)
    [signal] = farming.reversed_awards()
    assert signal.user_ids == (churner.pk,) and len(signal.evidence) == 4


def bounty(offerer, amount, *, winner=None, at=None):
    at = at or timezone.now()
    return Bounty.objects.create(
        offerer=offerer,
        winner=winner,
        thread_ref="t/1",
        title="Help",
        amount=amount,
        created_at=at,
        expires_at=at + timedelta(days=7),
        grace_ends_at=at + timedelta(days=8),
        idempotency_key=f"b{amount}{offerer.pk}",
    )


def test_coins_earned_then_moved_out_through_bounties(quality_rule):
    farmer, friend, saver = UserFactory(), UserFactory(), UserFactory()
    for i in range(4):
        award(quality_rule, farmer, f"forum:post:e{i}", created_at=timezone.now() - timedelta(hours=5))
        award(quality_rule, saver, f"forum:post:s{i}", created_at=timezone.now() - timedelta(days=10))
    bounty(farmer, 1900, winner=friend)  # 19 of the 20 coins earned in the last hours
    bounty(saver, 1900)  # earned long before: not "straight out"
    [signal] = farming.earn_then_bounty()
    assert signal.user_ids == (farmer.pk, friend.pk)


# --- the queue: review, hold, clear ----------------------------------------------------------------


def test_a_cleared_signal_stays_away_until_its_evidence_changes():
    reviewer = staff("wallet.review_fraud")
    a, b, c = UserFactory(), UserFactory(), UserFactory()
    pay(a, 2500, wallet_address=WALLET)
    pay(b, 2500, wallet_address=WALLET)
    [signal] = kinds(open_signals(), SignalKind.SHARED_WALLET)
    assert {m.label for m in signal.members} == {a.email, b.email}
    signal_clear(key=signal.key, fingerprint=signal.fingerprint, reason="Married couple", staff_id=reviewer.pk)
    assert kinds(open_signals(), SignalKind.SHARED_WALLET) == []
    pay(c, 2500, wallet_address=WALLET)  # new evidence
    [again] = kinds(open_signals(), SignalKind.SHARED_WALLET)
    assert again.key == signal.key and again.fingerprint != signal.fingerprint


def test_holding_from_the_queue_freezes_the_member_and_records_the_review():
    reviewer, outsider = staff("wallet.review_fraud"), staff()
    a, b = UserFactory(), UserFactory()
    pay(a, 2500, wallet_address=WALLET)
    pay(b, 2500, wallet_address=WALLET)
    [signal] = kinds(open_signals(), SignalKind.SHARED_WALLET)
    with pytest.raises(MemberHoldError):
        signal_hold(key=signal.key, fingerprint=signal.fingerprint, user_id=a.pk, reason="x", staff_id=outsider.pk)
    with pytest.raises(MemberHoldError):
        signal_hold(key=signal.key, fingerprint=signal.fingerprint, user_id=a.pk, reason=" ", staff_id=reviewer.pk)
    signal_hold(
        key=signal.key, fingerprint=signal.fingerprint, user_id=a.pk, reason="Stolen card", staff_id=reviewer.pk
    )
    assert member_on_hold(user_id=a.pk) and not member_on_hold(user_id=b.pk)
    assert MemberHold.objects.get(user=a).signal == signal.key
    assert kinds(open_signals(), SignalKind.SHARED_WALLET) == []
