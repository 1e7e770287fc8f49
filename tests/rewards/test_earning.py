from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import override_settings
from django.utils import timezone

from accounts.models import User
from rewards import services
from rewards.models import (
    ActivityEvent,
    Award,
    AwardStatus,
    Booster,
    Cycle,
    EarningRule,
    EventStatus,
    Integration,
    MemberLink,
    RewardDebt,
    RewardProfile,
)
from rewards.selectors import leaderboard
from tests.factories import UserFactory, forum_event
from tests.rewards.conftest import upvote
from wallet.models import Entry, SystemAccount, Transfer, TransferKind
from wallet.selectors import balance_for_user

pytestmark = pytest.mark.django_db


def bal(user) -> int:
    return balance_for_user(user_id=user.pk).balance


def spend(user, amount):
    from wallet import services as wallet

    wallet.transfer_post(
        from_account=wallet.user_account(user_id=user.pk),
        to_account=wallet.system_account(name=SystemAccount.REVENUE),
        amount=amount,
        kind=TransferKind.DOWNLOAD,
        idempotency_key=f"spend:{user.pk}:{amount}:{Transfer.objects.count()}",
    )


def test_default_rules_come_from_the_data_migration():
    rules = {r.event_type: r for r in EarningRule.objects.all()}
    assert rules["post.upvoted"].amount == 1000 and rules["post.upvoted"].min_upvotes == 5
    assert rules["ea.verified"].amount == 5000
    assert rules["answer.accepted"].amount == 2000 and rules["answer.accepted"].exempt_from_daily_cap
    assert rules["referral.converted"].amount == 1000


def test_quality_post_pays_at_five_distinct_voters_once():
    author = UserFactory()
    upvote(author.email, "p1", 4)
    assert bal(author) == 0
    upvote(author.email, "p1", 1, start=4)
    assert bal(author) == 1000
    upvote(author.email, "p1", 3, start=5)  # more votes: still once per object
    assert bal(author) == 1000
    transfer = Transfer.objects.get(kind=TransferKind.EARN)
    assert transfer.debit_account.system_name == SystemAccount.REWARDS_POOL
    assert Entry.objects.get(transfer=transfer, account__user=author).amount == 1000


def test_same_voter_twice_and_self_votes_do_not_count():
    author = UserFactory()
    for i in range(6):
        forum_event(author.email, "post.upvoted", "p", voter="same@forum.test", event_id=f"dup{i}")
    for i in range(6):
        forum_event(author.email, "post.upvoted", "p", voter=author.email, event_id=f"self{i}")
    upvote(author.email, "p", 3)
    assert bal(author) == 0  # 4 distinct non-author voters
    upvote(author.email, "p", 1, start=10)
    assert bal(author) == 1000


def test_accepted_answer_and_verified_ea_pay_their_rules():
    user = UserFactory()
    forum_event(user.email, "answer.accepted", "a1")
    forum_event(user.email, "ea.verified", "ea1", object_type="ea")
    assert bal(user) == 2000 + 5000


def test_replayed_event_id_changes_nothing():
    user = UserFactory()
    first = forum_event(user.email, "answer.accepted", "a1", event_id="e-1")
    again = forum_event(user.email, "answer.accepted", "a1", event_id="e-1")
    assert first.created and not again.created
    assert again.event.pk == first.event.pk
    assert bal(user) == 2000
    assert Transfer.objects.count() == 1


def test_duplicate_event_with_new_id_does_not_pay_twice_for_one_object():
    user = UserFactory()
    forum_event(user.email, "answer.accepted", "a1", event_id="x1")
    forum_event(user.email, "answer.accepted", "a1", event_id="x2")
    assert bal(user) == 2000


def test_events_for_unknown_user_wait_and_apply_when_they_register():
    forum_event("later@example.com", "answer.accepted", "a1")
    forum_event("later@example.com", "ea.verified", "ea", object_type="ea")
    assert ActivityEvent.objects.filter(status=EventStatus.PENDING).count() == 2
    user = UserFactory(email="later@example.com")
    assert services.pending_events_apply(user_id=user.pk) == 2
    assert bal(user) == 7000
    assert not ActivityEvent.objects.filter(status=EventStatus.PENDING).exists()


def test_periodic_sweep_applies_pending_events_without_a_signup_hook():
    forum_event("sweep@example.com", "answer.accepted", "a1")
    user = UserFactory(email="sweep@example.com")
    from rewards.tasks import apply_pending_events

    assert apply_pending_events.delay().get() == 1
    assert bal(user) == 2000


def test_external_id_is_learnt_and_pending_external_events_follow():
    integration = Integration.objects.create(name="forum", secret="x")
    services.activity_record(
        source="forum",
        event_id="ext-1",
        type="answer.accepted",
        user_external_id="u42",
        object_type="answer",
        object_id="a1",
    )
    assert bal_none("u42")
    user = UserFactory()
    services.activity_record(
        source="forum",
        event_id="ext-2",
        type="ea.verified",
        user_email=user.email,
        user_external_id="u42",
        object_type="ea",
        object_id="e1",
    )
    assert MemberLink.objects.get(integration=integration, external_id="u42").user == user
    assert bal(user) == 2000 + 5000  # the earlier, external-id-only event was applied too


def bal_none(external_id):
    return ActivityEvent.objects.filter(user_external_id=external_id, status=EventStatus.PENDING).exists()


@override_settings(REWARDS_DAILY_CAP="25")
def test_daily_cap_limits_capped_rules_but_not_accepted_answers():
    user = UserFactory()
    for i in range(3):
        forum_event(user.email, "ea.verified", f"ea{i}", object_type="ea")
    assert bal(user) == 2500  # 50 capped down to 25, then nothing
    forum_event(user.email, "answer.accepted", "a1")
    assert bal(user) == 2500 + 2000  # exempt
    notes = list(ActivityEvent.objects.filter(object_id="ea2").values_list("note", flat=True))
    assert "daily cap reached" in notes[0]


def test_booster_multiplies_chosen_rules_while_live():
    user = UserFactory()
    rule = EarningRule.objects.get(event_type="answer.accepted")
    now = timezone.now()
    booster = Booster.objects.create(
        name="Weekend", multiplier=Decimal("2.0"), starts_at=now - timedelta(hours=1), ends_at=now + timedelta(hours=1)
    )
    booster.rules.add(rule)
    forum_event(user.email, "answer.accepted", "a1")
    forum_event(user.email, "ea.verified", "ea1", object_type="ea")  # not boosted
    assert bal(user) == 4000 + 5000
    assert Award.objects.get(rule=rule).booster == booster
    booster.ends_at = now - timedelta(minutes=1)
    booster.starts_at = now - timedelta(hours=2)
    booster.save()
    forum_event(user.email, "answer.accepted", "a2")
    assert bal(user) == 4000 + 5000 + 2000


def test_cycle_limit_per_day():
    user = UserFactory()
    rule = EarningRule.objects.get(event_type="ea.verified")
    rule.cycle, rule.max_per_cycle = Cycle.DAY, 2
    rule.save()
    for i in range(4):
        forum_event(user.email, "ea.verified", f"ea{i}", object_type="ea")
    assert bal(user) == 10000


def test_inactive_or_out_of_window_rules_pay_nothing():
    user = UserFactory()
    EarningRule.objects.filter(event_type="answer.accepted").update(ends_at=timezone.now() - timedelta(days=1))
    forum_event(user.email, "answer.accepted", "a1")
    assert bal(user) == 0


def test_deleting_the_post_reverses_with_a_linked_reversal():
    author = UserFactory()
    upvote(author.email, "p1", 5)
    forum_event(author.email, "post.deleted", "p1")
    assert bal(author) == 0
    award = Award.objects.get()
    assert award.status == AwardStatus.REVERSED
    assert award.reversal_transfer.kind == TransferKind.REVERSAL
    assert award.reversal_transfer.reverses_id == award.transfer_id
    upvote(author.email, "p1", 2, start=20)  # a deleted post earns nothing any more
    assert bal(author) == 0


def test_vote_withdrawn_below_threshold_reverses_and_revote_re_awards():
    author = UserFactory()
    upvote(author.email, "p1", 5)
    forum_event(author.email, "post.unvoted", "p1", voter="voter0@forum.test")
    assert bal(author) == 0
    upvote(author.email, "p1", 1, start=9)
    assert bal(author) == 1000
    assert list(Award.objects.order_by("generation").values_list("generation", "status")) == [
        (1, "reversed"),
        (2, "active"),
    ]


def test_unaccepted_answer_is_reversed():
    user = UserFactory()
    forum_event(user.email, "answer.accepted", "a1")
    forum_event(user.email, "answer.unaccepted", "a1")
    assert bal(user) == 0
    history = list(Entry.objects.filter(account__user=user).order_by("id").values_list("transfer__kind", flat=True))
    assert history == ["earn", "reversal"]


def test_reversal_beyond_balance_becomes_debt_recovered_from_future_awards():
    user = UserFactory()
    forum_event(user.email, "answer.accepted", "a1")  # +20
    spend(user, 1500)  # 5 left
    forum_event(user.email, "answer.unaccepted", "a1")
    assert bal(user) == 0
    debt = RewardDebt.objects.get()
    assert (debt.amount, debt.recovered) == (1500, 0)
    assert RewardProfile.objects.get(user=user).debt == 1500
    award = Award.objects.get(object_key="forum:answer:a1")
    assert award.reversal_transfer.amount == 500 and award.reversal_transfer.reverses_id == award.transfer_id

    forum_event(user.email, "answer.accepted", "a2")  # +20, 15 recovered
    assert bal(user) == 500
    debt.refresh_from_db()
    assert debt.recovered == 1500
    assert RewardProfile.objects.get(user=user).debt == 0
    forum_event(user.email, "answer.accepted", "a3")
    assert bal(user) == 2500
    # Leaderboard: 20 earned and kept (a2) + 20 (a3); a1 fully taken out at reversal time.
    assert leaderboard(period="all", user_id=user.pk).me.coins == 4000


def test_reversal_with_zero_balance_is_all_debt_and_ledger_never_negative():
    user = UserFactory()
    forum_event(user.email, "answer.accepted", "a1")
    spend(user, 2000)
    forum_event(user.email, "answer.unaccepted", "a1")
    award = Award.objects.get()
    assert award.status == AwardStatus.REVERSED and award.reversal_transfer is None
    assert RewardDebt.objects.get().amount == 2000
    assert bal(user) == 0


def test_staff_reversal_service():
    user = UserFactory()
    forum_event(user.email, "answer.accepted", "a1")
    award = services.award_reverse(award_id=Award.objects.get().pk)
    assert award.status == AwardStatus.REVERSED
    assert bal(user) == 0
    services.award_reverse(award_id=award.pk)  # again: no-op
    assert Transfer.objects.filter(kind="reversal").count() == 1


def test_failure_while_applying_keeps_the_event_as_failed(monkeypatch):
    user = UserFactory()

    def boom(**kwargs):
        raise RuntimeError("kaput")

    from rewards.services import awards

    monkeypatch.setattr(awards, "_award", boom)
    result = forum_event(user.email, "answer.accepted", "a1")
    assert result.event.status == EventStatus.FAILED and "kaput" in result.event.note
    monkeypatch.undo()
    assert services.event_retry(event_id=result.event.pk).status == EventStatus.APPLIED
    assert bal(user) == 2000


def test_invalid_events_are_refused():
    from rewards.errors import InvalidEvent

    with pytest.raises(InvalidEvent):
        services.activity_record(
            source="f", event_id="1", type="nope", user_email="a@b.c", object_type="p", object_id="1"
        )
    with pytest.raises(InvalidEvent):
        services.activity_record(
            source="f", event_id="1", type="post.upvoted", user_email="a@b.c", object_type="p", object_id="1"
        )
    with pytest.raises(InvalidEvent):
        services.activity_record(source="f", event_id="1", type="ea.verified", object_type="p", object_id="1")


def test_ea_verified_raised_by_goldbook_itself():
    user = UserFactory()
    services.activity_record(
        source=services.GOLDBOOK_SOURCE,
        event_id="ea-verified:7",
        type="ea.verified",
        user_id=user.pk,
        object_type="ea",
        object_id="7",
    )
    assert bal(user) == 5000
    assert User.objects.count() == 1
