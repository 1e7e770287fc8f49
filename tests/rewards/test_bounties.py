from datetime import timedelta

import pytest
from django.utils import timezone

from rewards import services
from rewards.errors import BountyClosed, BountyHasAnswers, InvalidBounty, NotOfferer, WinnerNotFound
from rewards.models import Bounty, BountyStatus
from rewards.selectors import leaderboard
from tests.factories import UserFactory, forum_event, fund
from tests.rewards.conftest import answer
from wallet.errors import InsufficientFunds
from wallet.models import SystemAccount, TransferKind
from wallet.selectors import balance_for_user, system_account_balance
from wallet.services import system_account

pytestmark = pytest.mark.django_db


def bal(user):
    return balance_for_user(user_id=user.pk).balance


def escrow_balance():
    return system_account_balance(account=system_account(name=SystemAccount.ESCROW))


def make(offerer, amount=2000, **kw):
    return services.bounty_create(offerer_id=offerer.pk, thread_ref="t/9", title="Help", amount=amount, **kw)


def test_create_moves_coins_to_escrow_at_once():
    offerer = UserFactory()
    fund(offerer, "30.00")
    bounty = make(offerer)
    assert bal(offerer) == 1000 and escrow_balance() == 2000
    assert bounty.escrow_transfer.kind == TransferKind.ESCROW
    assert (bounty.expires_at - bounty.created_at).days == 7
    assert bounty.grace_ends_at - bounty.expires_at == timedelta(hours=24)
    with pytest.raises(InsufficientFunds):
        make(offerer, amount=5000)
    with pytest.raises(InvalidBounty):
        make(offerer, amount=100)  # below the 5-coin minimum
    with pytest.raises(InvalidBounty):
        make(offerer, expires_in_days=0)


def test_award_pays_winner_counts_as_earned_and_is_exempt_from_cap(settings):
    settings.REWARDS_DAILY_CAP = "1"
    offerer, winner = UserFactory(), UserFactory()
    fund(offerer, "30.00")
    bounty = make(offerer)
    answer(winner, "t/9", "ans-7")
    with pytest.raises(NotOfferer):
        services.bounty_award(bounty_id=bounty.pk, actor_id=winner.pk, answer_id="ans-7")
    services.bounty_award(bounty_id=bounty.pk, actor_id=offerer.pk, answer_id="ans-7")
    assert bal(winner) == 2000 and escrow_balance() == 0
    assert leaderboard(period="week", user_id=winner.pk).me.coins == 2000
    with pytest.raises(BountyClosed):
        services.bounty_award(bounty_id=bounty.pk, actor_id=offerer.pk, answer_id="ans-7")


def test_cancel_only_before_any_answer():
    offerer = UserFactory()
    fund(offerer, "50.00")
    quiet = make(offerer)
    services.bounty_cancel(bounty_id=quiet.pk, actor_id=offerer.pk)
    assert bal(offerer) == 5000
    answered = make(offerer)
    forum_event("someone@forum.test", "answer.posted", "ans-1", data={"thread_ref": "t/9"})
    assert Bounty.objects.get(pk=answered.pk).answer_count == 1
    with pytest.raises(BountyHasAnswers):
        services.bounty_cancel(bounty_id=answered.pk, actor_id=offerer.pk)


def test_expiry_returns_coins_only_after_the_grace_period():
    offerer, winner = UserFactory(), UserFactory()
    fund(offerer, "20.00")
    bounty = make(offerer)
    now = timezone.now()
    assert services.bounties_expire(now=now + timedelta(days=7, hours=1)) == 0  # in grace: still awardable
    from rewards.tasks import expire_bounties

    Bounty.objects.filter(pk=bounty.pk).update(grace_ends_at=now - timedelta(seconds=1))
    assert expire_bounties.delay().get() == 1
    bounty.refresh_from_db()
    assert bounty.status == BountyStatus.EXPIRED and bal(offerer) == 2000 and escrow_balance() == 0
    answer(winner, "t/9", "ans-7")
    with pytest.raises(BountyClosed):
        services.bounty_award(bounty_id=bounty.pk, actor_id=offerer.pk, answer_id="ans-7")
    assert services.bounties_expire(now=now + timedelta(days=30)) == 0  # once


def test_award_during_grace_is_allowed():
    offerer, winner = UserFactory(), UserFactory()
    fund(offerer, "20.00")
    bounty = make(offerer)
    Bounty.objects.filter(pk=bounty.pk).update(expires_at=timezone.now() - timedelta(hours=1))
    answer(winner, "t/9", "ans-7")
    services.bounty_award(bounty_id=bounty.pk, actor_id=offerer.pk, answer_id="ans-7")
    assert bal(winner) == 2000


def test_award_names_an_answer_on_the_thread_never_an_email():
    """Issue 11 item 7: awarding by email told whether an address had an account. The winner is
    an answer on the bounty's thread; anything else gets the same refusal and the bounty stays open."""
    offerer, winner, member = UserFactory(), UserFactory(), UserFactory()
    fund(offerer, "20.00")
    bounty = make(offerer)
    answer(member, "t/other", "elsewhere")  # a member's answer on another thread
    forum_event("stranger@forum.test", "answer.posted", "no-account", data={"thread_ref": "t/9"})
    refusals = set()
    for guess in [winner.email, "ghost@example.com", "elsewhere", "no-account", "nope"]:
        with pytest.raises(WinnerNotFound) as exc:
            services.bounty_award(bounty_id=bounty.pk, actor_id=offerer.pk, answer_id=guess)
        refusals.add(exc.value.message)
    assert len(refusals) == 1 and "email" not in refusals.pop()
    assert Bounty.objects.get(pk=bounty.pk).status == BountyStatus.OPEN
    answer(winner, "t/9", "ans-9")
    services.bounty_award(bounty_id=bounty.pk, actor_id=offerer.pk, answer_id="ans-9")
    assert bal(winner) == 2000
