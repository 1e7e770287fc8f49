"""The SQL own rank from the rank cells (issue 14): after any history of awards, reversals and
bounty payouts the cells count exactly the positive totals, every member's rank is 1 + the
members above them (ties share a rank) at any depth, and SQL agrees with Redis."""

from collections import Counter
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import transaction
from django.test import override_settings
from django.utils import timezone
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rewards import services
from rewards.models import EarningTotal, LeaderboardCell
from rewards.rank_cells import LEVELS, SHIFT, cell_deltas, cells_deferred, cells_of, members_above
from rewards.selectors import _me_sql, bucket_for, leaderboard
from rewards.services.leaderboards import totals_add
from tests.factories import UserFactory, forum_event, fund
from tests.rewards.conftest import answer, upvote

pytestmark = pytest.mark.django_db

# Totals around the cells' edges (255/256, 65,535/65,536, ...), ordinary awards and huge ones.
EDGES = [1, 255, 256, 257, 65535, 65536, 65537, 2**24, 2**40 - 1, 2**40, 2**56 + 1]
amount = st.one_of(st.sampled_from(EDGES), st.integers(1, 70000), st.sampled_from([1000, 2000, 3000]))
# (member 0-5, +/- amount, weeks ago 0-1): a negative step is a reversal or a clawback.
step = st.tuples(st.integers(0, 5), amount, st.booleans(), st.integers(0, 1))


def expected_cells() -> Counter:
    counts: Counter = Counter()
    for period, bucket, coins in EarningTotal.objects.values_list("period", "bucket", "coins"):
        for level, cell in cells_of(coins):
            counts[(period, bucket, level, cell)] += 1
    return counts


def stored_cells() -> Counter:
    rows = LeaderboardCell.objects.exclude(members=0).values_list("period", "bucket", "level", "cell", "members")
    return Counter({(p, b, lv, c): n for p, b, lv, c, n in rows})


def naive_ranks(period: str) -> dict[int, int | None]:
    """Competition rank of every member with a total in the current bucket, by counting."""
    bucket = bucket_for(period, timezone.now())
    totals = dict(EarningTotal.objects.filter(period=period, bucket=bucket).values_list("user_id", "coins"))
    return {
        uid: (1 + sum(1 for other in totals.values() if other > coins)) if coins > 0 else None
        for uid, coins in totals.items()
    }


def assert_cells_and_ranks_right(*, rank=lambda period, uid: leaderboard(period=period, user_id=uid).me.rank):
    assert stored_cells() == expected_cells()
    for period in ("all", "month", "week"):
        for uid, expected in naive_ranks(period).items():
            assert rank(period, uid) == expected, (period, uid)


def sql_rank(period: str, uid: int) -> int | None:
    return _me_sql(period, bucket_for(period, timezone.now()), uid)[0]


@pytest.fixture
def members():
    return [UserFactory() for _ in range(6)]


def apply(users, steps, *, reversals_only_of_awards: bool = False) -> None:
    """Play the steps. With `reversals_only_of_awards`, a negative step takes back one earlier
    award whole (as a reversal does), so no total ever goes below zero; otherwise any delta goes."""
    now = timezone.now()
    awarded: list[tuple[int, int, int]] = []
    for who, coins, back, weeks in steps:
        if back and reversals_only_of_awards:
            if awarded:
                user, amount, was = awarded.pop(coins % len(awarded))
                totals_add(user_id=user, at=now - timedelta(weeks=was), delta=-amount)
            continue
        totals_add(user_id=users[who].pk, at=now - timedelta(weeks=weeks), delta=-coins if back else coins)
        awarded.append((users[who].pk, coins, weeks))


def test_cells_of_and_deltas():
    assert cells_of(0) == [] and cells_of(-5) == []
    assert cells_of(65536) == [(0, 65536), (1, 256), (2, 1)]  # cell 0 is never kept
    assert len(cells_of(2**63 - 1)) == LEVELS and cells_of(2**63 - 1)[-1] == (7, 127)
    # 1000 -> 1010 stays in the same block of 256: only the exact scores move.
    assert cell_deltas(1000, 1010) == {(0, 1000): -1, (0, 1010): 1}
    assert cell_deltas(0, 5) == {(0, 5): 1} and cell_deltas(5, -1) == {(0, 5): -1}
    assert cell_deltas(255, 256) == {(0, 255): -1, (0, 256): 1, (1, 1): 1}
    assert SHIFT * LEVELS == 64


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, min_size=1, max_size=25))
@example(steps=[(0, 255, False, 0), (1, 256, False, 0), (2, 256, False, 0), (1, 1, True, 0), (3, 65536, False, 1)])
@example(steps=[(0, 2000, False, 0), (0, 3000, True, 0), (0, 1000, False, 0), (1, 2**56, False, 0)])
def test_random_histories_keep_the_cells_exact_and_every_rank_right(steps, members):
    with transaction.atomic():
        apply(members, steps)
        assert_cells_and_ranks_right(rank=sql_rank)
        transaction.set_rollback(True)


def test_any_rank_among_many_members_with_ties():
    users = [UserFactory() for _ in range(120)]
    now = timezone.now()
    for i, user in enumerate(users):
        totals_add(user_id=user.pk, at=now, delta=[1, 256, 65536, 70000, 2**33][i % 5] + (i // 10) * 255)
    ranks = naive_ranks("all")
    assert sorted(Counter(ranks.values()).values())[-1] > 1  # there are ties
    assert max(ranks.values()) > 100  # and deep ranks
    assert_cells_and_ranks_right()


def test_members_above_a_score_nobody_has():
    users = [UserFactory() for _ in range(3)]
    now = timezone.now()
    for user, coins in zip(users, (300, 70000, 2**40), strict=True):
        totals_add(user_id=user.pk, at=now, delta=coins)
    bucket = bucket_for("all", now)
    above = [members_above(period="all", bucket=bucket, coins=c) for c in (1, 299, 300, 301, 69999, 2**40, 2**62)]
    assert above == [3, 3, 2, 2, 2, 0, 0]


def test_reversals_clawbacks_and_bounties_keep_the_cells_exact_and_rebuild_matches():
    users = [UserFactory() for _ in range(4)]
    offerer = UserFactory()
    fund(offerer, "100.00")
    for i, u in enumerate(users):
        upvote(u.email, f"p{i}", 5)
        forum_event(u.email, "answer.accepted", f"a{i}")
    assert_cells_and_ranks_right()
    forum_event(users[0].email, "post.deleted", "p0")  # clawback of the upvote awards
    from tests.rewards.test_earning import spend

    spend(users[1], 3000)
    forum_event(users[1].email, "answer.unaccepted", "a1")  # reversed, partly as debt
    forum_event(users[2].email, "answer.unaccepted", "a2")  # reversed whole: off the board
    assert_cells_and_ranks_right()
    bounty = services.bounty_create(offerer_id=offerer.pk, thread_ref="t", title="q", amount=1500)
    answer(users[3], "t", "win")
    services.bounty_award(bounty_id=bounty.pk, actor_id=offerer.pk, answer_id="win")
    assert_cells_and_ranks_right()
    before = stored_cells()
    LeaderboardCell.objects.all().delete()
    EarningTotal.objects.all().delete()
    call_command("rebuild_leaderboards")
    assert stored_cells() == before
    assert_cells_and_ranks_right()


# Redis scores are doubles: exact up to 2**53, far above any site's coins.
redis_step = st.tuples(
    st.integers(0, 5), st.one_of(st.sampled_from(EDGES[:-1]), st.integers(1, 70000)), st.booleans(), st.integers(0, 1)
)


@pytest.mark.redis
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(redis_step, min_size=1, max_size=15))
@example(steps=[(0, 256, False, 0), (1, 256, False, 0), (2, 255, False, 0), (0, 256, True, 0), (3, 1, False, 0)])
@example(steps=[(0, 5, False, 0), (1, 3, False, 0), (0, 9, True, 0), (0, 6, False, 0)])  # below zero and back
def test_sql_and_redis_agree_after_random_histories(steps, members, redis_board, django_capture_on_commit_callbacks):
    prefix = django_settings.REWARDS_REDIS_PREFIX
    with transaction.atomic():
        for key in redis_board.scan_iter(match=f"{prefix}:*"):
            redis_board.delete(key)
        with django_capture_on_commit_callbacks(execute=True):
            apply(members, steps)  # any deltas: totals below zero and back up included
        for period in ("all", "week"):
            views = {}
            for backend in ("auto", "sql"):
                with override_settings(REWARDS_LEADERBOARD_BACKEND=backend):
                    boards = [leaderboard(period=period, limit=4, user_id=u.pk) for u in members]
                views[backend] = (
                    {b.backend for b in boards},
                    [(e.rank, e.user_id, e.coins) for e in boards[0].entries],
                    [(b.me.rank, b.me.coins) for b in boards],
                )
            assert views["auto"][0] == {"redis"} and views["sql"][0] == {"sql"}
            assert views["auto"][1:] == views["sql"][1:], period
        transaction.set_rollback(True)


def test_the_migration_counts_existing_totals_into_the_cells():
    from importlib import import_module

    from django.db import connection

    fill = import_module("rewards.migrations.0006_leaderboard_rank_cells").FILL
    users = [UserFactory() for _ in range(5)]
    now = timezone.now()
    for user, coins in zip(users, (1, 256, 256, 70000, 2**40), strict=True):
        totals_add(user_id=user.pk, at=now, delta=coins)
    before = stored_cells()
    LeaderboardCell.objects.all().delete()
    with connection.cursor() as cursor:
        cursor.execute(fill)
    assert stored_cells() == before == expected_cells()


def test_deferred_cells_are_written_once_summed_and_dropped_with_a_failed_savepoint(django_assert_num_queries):
    """A batch's awards write the shared cells once at the end, in key order (award by award,
    two batches deadlocked on them); a nested block that raises leaves nothing behind."""
    members = [UserFactory() for _ in range(4)]
    now = timezone.now()
    with transaction.atomic():
        with cells_deferred():
            for n, member in enumerate(members):
                totals_add(user_id=member.pk, at=now, delta=300 * (n + 1))
            try:
                with transaction.atomic(), cells_deferred():
                    totals_add(user_id=members[0].pk, at=now, delta=70000)
                    raise RuntimeError("this event fails")
            except RuntimeError:
                pass
            assert not LeaderboardCell.objects.exists()  # nothing written yet
    assert stored_cells() == expected_cells()
    assert_cells_and_ranks_right()
    with django_assert_num_queries(2), transaction.atomic(), cells_deferred():
        pass  # nothing collected: the savepoint and its release, no cell statement
