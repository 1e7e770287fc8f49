"""Leaderboards across a Redis outage (issue 10, item 5): awards made while Redis is down reach
the SQL aggregates only; once Redis answers again the leaderboard must still equal the SQL truth,
read from SQL until the sorted sets are rebuilt, then from Redis again."""

import pytest

from rewards import tasks
from rewards.models import EarningTotal
from rewards.selectors import leaderboard
from tests.factories import UserFactory, forum_event
from tests.redis_faults import down_url

pytestmark = [pytest.mark.postgres, pytest.mark.redis, pytest.mark.django_db(transaction=True)]


def view(period="all", user_id=None):
    board = leaderboard(period=period, limit=10, user_id=user_id)
    me = (board.me.rank, board.me.coins) if board.me else None
    return board.backend, [(e.rank, e.user_id, e.coins) for e in board.entries], me


def sql_truth(period="all"):
    rows = EarningTotal.objects.filter(period=period, coins__gt=0).order_by("-coins", "user_id")
    return [(r.user_id, r.coins) for r in rows]


def test_awards_made_while_redis_was_down_count_once_it_is_back(redis_board, settings):
    a, b = UserFactory(display_name="A"), UserFactory(display_name="B")
    forum_event(a.email, "answer.accepted", "a1")
    forum_event(a.email, "answer.accepted", "a2")
    forum_event(b.email, "answer.accepted", "b1")
    assert view()[0] == "redis" and [(u, c) for _, u, c in view()[1]] == [(a.pk, 4000), (b.pk, 2000)]

    up = settings.REDIS_URL
    settings.REDIS_URL = down_url()  # the leaderboard client now meets a refused connection
    forum_event(b.email, "answer.accepted", "b2")
    forum_event(b.email, "answer.accepted", "b3")
    settings.REDIS_URL = up  # Redis is back, holding the sorted sets from before the outage

    assert sql_truth() == [(b.pk, 6000), (a.pk, 4000)]
    backend, entries, me = view(user_id=a.pk)
    assert [(u, c) for _, u, c in entries] == sql_truth()
    assert me == (2, 4000)
    assert backend == "sql"  # not trusted until rebuilt

    tasks.resync_leaderboards()
    backend, entries, me = view(user_id=a.pk)
    assert backend == "redis"
    assert [(u, c) for _, u, c in entries] == sql_truth() and me == (2, 4000)
    assert [(u, c) for _, u, c in view("week")[1]] == sql_truth("week")

    forum_event(a.email, "answer.accepted", "a3")  # and Redis is fed again as usual
    assert view()[0] == "redis" and [(u, c) for _, u, c in view()[1]] == sql_truth() == [(a.pk, 6000), (b.pk, 6000)]


def test_resync_while_redis_is_still_down_keeps_reading_sql(redis_board, settings):
    a = UserFactory()
    up = settings.REDIS_URL
    settings.REDIS_URL = down_url()
    forum_event(a.email, "answer.accepted", "a1")
    tasks.resync_leaderboards()  # fails quietly: still stale
    settings.REDIS_URL = up
    assert view() == ("sql", [(1, a.pk, 2000)], None)
    tasks.resync_leaderboards()
    assert view() == ("redis", [(1, a.pk, 2000)], None)


def test_an_update_missed_during_a_resync_keeps_redis_stale(redis_board, settings, monkeypatch):
    from rewards.selectors import leaderboards_stale
    from rewards.services import leaderboards as lb

    a = UserFactory()
    up = settings.REDIS_URL
    settings.REDIS_URL = down_url()
    forum_event(a.email, "answer.accepted", "a1")
    settings.REDIS_URL = up
    real_replace = lb._redis_replace

    def replace_then_miss(client, rows):
        written = real_replace(client, rows)
        lb._mark_stale()  # another award's update failed while the sets were being copied
        return written

    monkeypatch.setattr(lb, "_redis_replace", replace_then_miss)
    assert lb.leaderboards_resync() is False and leaderboards_stale()
    monkeypatch.setattr(lb, "_redis_replace", real_replace)
    assert lb.leaderboards_resync() is True and not leaderboards_stale()


def test_an_update_that_reached_redis_during_a_resync_is_copied_again(redis_board, settings, monkeypatch):
    from rewards.services import leaderboards as lb

    a, b = UserFactory(), UserFactory()
    up = settings.REDIS_URL
    settings.REDIS_URL = down_url()
    forum_event(a.email, "answer.accepted", "a1")
    settings.REDIS_URL = up
    real_replace = lb._redis_replace
    calls = []

    def replace_racing_an_award(client, rows):
        calls.append(len(rows))
        written = real_replace(client, rows)
        if len(calls) == 1:  # an award whose update lands in the old sets before the swap
            client.incr(lb.redis_writes_key())
        return written

    monkeypatch.setattr(lb, "_redis_replace", replace_racing_an_award)
    forum_event(b.email, "answer.accepted", "b1")  # while stale: counted as a miss, SQL only
    assert lb.leaderboards_resync() is True and len(calls) == 2
    assert [(u, c) for _, u, c in view()[1]] == sql_truth() == [(a.pk, 2000), (b.pk, 2000)]
    assert view()[0] == "redis"
