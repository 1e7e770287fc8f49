from datetime import timedelta

import pytest
from django.core.management import call_command
from django.utils import timezone

from rewards import services
from rewards.models import Award, EarningTotal, UserBadge
from rewards.selectors import bucket_for, leaderboard
from tests.factories import UserFactory, forum_event, fund
from tests.rewards.conftest import answer, upvote
from wallet.models import TransferKind

pytestmark = pytest.mark.django_db


def totals():
    return sorted(EarningTotal.objects.filter(coins__gt=0).values_list("period", "bucket", "user_id", "coins"))


def test_buckets():
    from datetime import UTC, datetime

    at = datetime(2025, 12, 29, 10, tzinfo=UTC)  # ISO week 1 of 2026
    assert [bucket_for(p, at) for p in ("all", "month", "week")] == ["all", "2025-12", "2026-W01"]


def test_ranks_by_coins_earned_not_bought_and_shows_titles_and_badges():
    a, b, c = UserFactory(display_name="A"), UserFactory(display_name="B"), UserFactory(display_name="C")
    fund(c, "1000.00")  # bought coins never count
    forum_event(a.email, "answer.accepted", "x1")
    forum_event(b.email, "answer.accepted", "y1")
    forum_event(b.email, "ea.verified", "y2", object_type="ea")
    UserBadge.objects.create(user=b, label="Founder")
    board = leaderboard(period="all", user_id=c.pk)
    assert [(e.rank, e.display_name, e.coins, e.badges) for e in board.entries] == [
        (1, "B", 7000, ["Founder"]),
        (2, "A", 2000, []),
    ]
    assert board.me.rank is None and board.me.coins == 0


def test_ties_share_a_rank():
    users = [UserFactory() for _ in range(3)]
    for u in users[:2]:
        forum_event(u.email, "answer.accepted", f"t{u.pk}")
    forum_event(users[2].email, "ea.verified", "e", object_type="ea")
    assert [e.rank for e in leaderboard(period="all").entries] == [1, 2, 2]
    assert leaderboard(period="all", user_id=users[1].pk).me.rank == 2


def test_reversal_is_subtracted_in_the_period_it_was_earned():
    user = UserFactory()
    forum_event(user.email, "answer.accepted", "a1")
    forum_event(user.email, "answer.accepted", "a2")
    last_week = timezone.now() - timedelta(days=8)
    Award.objects.filter(object_key="forum:answer:a1").update(created_at=last_week)
    call_command("rebuild_leaderboards")
    assert leaderboard(period="week", user_id=user.pk).me.coins == 2000
    forum_event(user.email, "answer.unaccepted", "a1")
    assert leaderboard(period="week", user_id=user.pk).me.coins == 2000  # this week untouched
    assert leaderboard(period="all", user_id=user.pk).me.coins == 2000
    assert EarningTotal.objects.get(period="week", bucket=bucket_for("week", last_week), user=user).coins == 0


def test_rebuild_from_the_ledger_matches_incremental_totals():
    users = [UserFactory() for _ in range(4)]
    offerer = UserFactory()
    fund(offerer, "100.00")
    for i, u in enumerate(users):
        upvote(u.email, f"p{i}", 5)
        forum_event(u.email, "answer.accepted", f"a{i}")
    forum_event(users[0].email, "post.deleted", "p0")
    from tests.rewards.test_earning import spend

    spend(users[1], 3000)
    forum_event(users[1].email, "answer.unaccepted", "a1")  # partly debt
    bounty = services.bounty_create(offerer_id=offerer.pk, thread_ref="t", title="q", amount=1500)
    answer(users[2], "t", "win")
    services.bounty_award(bounty_id=bounty.pk, actor_id=offerer.pk, answer_id="win")
    forum_event(users[1].email, "ea.verified", "e1", object_type="ea")  # recovers the debt
    before = totals()
    EarningTotal.objects.all().delete()
    call_command("rebuild_leaderboards")
    assert totals() == before
    all_time = {uid: coins for p, b, uid, coins in before if p == "all"}
    assert all_time == {users[0].pk: 2000, users[1].pk: 1000 + 5000, users[2].pk: 3000 + 1500, users[3].pk: 3000}


def test_own_rank_outside_top_ten_in_sql():
    users = [UserFactory() for _ in range(15)]
    for i, u in enumerate(users):
        for k in range(i + 1):
            forum_event(u.email, "answer.accepted", f"{u.pk}:{k}")
    board = leaderboard(period="month", limit=10, user_id=users[2].pk)
    assert len(board.entries) == 10 and board.entries[0].user_id == users[-1].pk
    assert board.me.rank == 13 and board.me.coins == 6000
    assert TransferKind.EARN


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_redis_and_sql_backends_agree_and_rebuild_restores_redis(redis_board, settings):
    users = [UserFactory(display_name=f"R{i}") for i in range(12)]
    for i, u in enumerate(users):
        for k in range(i % 4 + 1):
            forum_event(u.email, "answer.accepted", f"{u.pk}:{k}")
    forum_event(users[3].email, "answer.unaccepted", f"{users[3].pk}:0")

    def snapshot(uid):
        board = leaderboard(period="week", limit=10, user_id=uid)
        return board.backend, [(e.rank, e.user_id, e.coins) for e in board.entries], board.me

    backend, redis_view, redis_me = snapshot(users[0].pk)
    assert backend == "redis"
    settings.REWARDS_LEADERBOARD_BACKEND = "sql"
    sql_backend, sql_view, sql_me = snapshot(users[0].pk)
    assert sql_backend == "sql"
    assert redis_view == sql_view and redis_me == sql_me
    settings.REWARDS_LEADERBOARD_BACKEND = "auto"
    for key in redis_board.scan_iter(match=f"{settings.REWARDS_REDIS_PREFIX}:*"):
        redis_board.delete(key)
    assert snapshot(users[0].pk)[1] == []
    call_command("rebuild_leaderboards")
    assert snapshot(users[0].pk)[1:] == (sql_view, sql_me)


def test_redis_failure_falls_back_to_sql(settings, monkeypatch):
    user = UserFactory()
    forum_event(user.email, "answer.accepted", "a")
    settings.REWARDS_LEADERBOARD_BACKEND = "auto"
    import rewards.selectors as sel

    class Broken:
        def zrevrange(self, *a, **k):
            raise ConnectionError("down")

    monkeypatch.setattr(sel, "redis_client", lambda: Broken())
    board = leaderboard(period="all", user_id=user.pk)
    assert board.backend == "sql" and board.me.coins == 2000
