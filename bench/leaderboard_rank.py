"""Own rank on the SQL leaderboard (no Redis) at 1,000,000 members, at the top, the middle and the
bottom of the board (issue 14), next to an indexed SELECT of the member's own total in the same
run, and the old way (COUNT of the members above) for comparison. Run by hand:

    BENCH_DB=gb_rank_bench .venv/bin/python bench/leaderboard_rank.py [--keep]

It creates the dedicated database BENCH_DB (dropping an old one), fills it with set-based SQL
(generate_series), rebuilds the rank cells with the production code, measures 3 rounds and drops
the database (--keep keeps it). Bounded: SAMPLES reads per position and round. The machine may be
shared: the spread across rounds says how much that moved the figures.
"""

import os
import random
import secrets
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BENCH_DB = os.environ.get("BENCH_DB", "gb_rank_bench")
assert BENCH_DB.endswith("_bench"), "the bench database name must end in _bench"
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
USERS = int(os.environ.get("BENCH_USERS", 1_000_000))
SAMPLES = int(os.environ.get("BENCH_SAMPLES", 200))
OLD_SAMPLES = int(os.environ.get("BENCH_OLD_SAMPLES", 20))  # the old COUNT is slow: fewer
ROUNDS = 3
os.environ["DATABASE_URL"] = f"{PG}/{BENCH_DB}"
os.environ["REDIS_URL"] = ""  # the SQL leaderboard only
os.environ["REWARDS_LEADERBOARD_BACKEND"] = "sql"
os.environ["DEBUG"] = "false"
os.environ["LOG_LEVEL"] = "WARNING"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))


def psql(sql: str, db: str = "postgres") -> None:
    subprocess.run(["psql", f"{PG}/{db}", "-v", "ON_ERROR_STOP=1", "-qc", sql], check=True)


def timed(label: str, fn):
    t = time.perf_counter()
    out = fn()
    print(f"  {label}: {time.perf_counter() - t:.1f}s", flush=True)
    return out


def p50_p95(samples: list[float]) -> tuple[float, float]:
    s = sorted(samples)
    return statistics.median(s) * 1000, s[min(len(s) - 1, int(len(s) * 0.95))] * 1000


def generate(month: str, week: str) -> None:
    from django.db import connection

    from rewards.rank_cells import cells_rebuild

    with connection.cursor() as c:
        timed(
            f"{USERS:,} users",
            lambda: c.execute(
                "INSERT INTO accounts_user (password, is_superuser, email, display_name, is_staff, is_active, "
                "date_joined, pin_failures, display_currency, language, time_zone) "
                "SELECT '!', false, 'u' || g || '@bench.local', 'Member ' || g, false, true, now(), 0, '', '', '' "
                "FROM generate_series(1, %s) g",
                [USERS],
            ),
        )
        # Skewed like a forum (a few earn most), in minor units: up to 10,000,000, many distinct
        # totals, many ties at the bottom. All-time for everyone, this month 60 %, this week 25 %.
        timed(
            "earned totals all/month/week",
            lambda: c.execute(
                "INSERT INTO rewards_earningtotal (period, bucket, user_id, coins) "
                "SELECT 'all', 'all', id, 1 + floor(10000000 * random() ^ 4)::bigint FROM accounts_user "
                "UNION ALL SELECT 'month', %s, id, 1 + floor(2000000 * random() ^ 4)::bigint FROM accounts_user "
                "  WHERE random() < 0.6 "
                "UNION ALL SELECT 'week', %s, id, 1 + floor(500000 * random() ^ 4)::bigint FROM accounts_user "
                "  WHERE random() < 0.25",
                [month, week],
            ),
        )
        timed("rank cells (rewards.rank_cells.cells_rebuild)", cells_rebuild)
        connection.set_autocommit(True)
        timed("VACUUM ANALYZE", lambda: c.execute("VACUUM ANALYZE rewards_earningtotal, rewards_leaderboardcell"))
        c.execute("SELECT period, count(*) FROM rewards_earningtotal GROUP BY period ORDER BY period")
        print("  totals rows:", dict(c.fetchall()))
        c.execute("SELECT period, level, count(*) FROM rewards_leaderboardcell GROUP BY 1, 2 ORDER BY 1, 2")
        cells: dict[str, list[int]] = {}
        for period, _level, n in c.fetchall():
            cells.setdefault(period, []).append(n)
        print("  cell rows per level:", cells)


def positions(period: str, bucket: str) -> dict[str, list[int]]:
    """Members ranked near the top (1-100), the middle and the bottom of the board."""
    from django.db import connection

    with connection.cursor() as c:
        c.execute("SELECT count(*) FROM rewards_earningtotal WHERE period = %s AND bucket = %s", [period, bucket])
        n = c.fetchone()[0]
        out = {}
        for name, offset in (("top", 0), ("middle", n // 2 - 50), ("bottom", n - 100)):
            c.execute(
                "SELECT user_id FROM rewards_earningtotal WHERE period = %s AND bucket = %s "
                "ORDER BY coins DESC, user_id OFFSET %s LIMIT 100",
                [period, bucket, offset],
            )
            out[name] = [r[0] for r in c.fetchall()]
    return out


def bench_reads(period: str, bucket: str) -> None:
    from django.db import connection

    from rewards.selectors import _me_sql

    def reference(uid: int) -> None:  # an indexed SELECT: the member's own total, unique index
        with connection.cursor() as c:
            c.execute(
                "SELECT coins FROM rewards_earningtotal WHERE period = %s AND bucket = %s AND user_id = %s",
                [period, bucket, uid],
            )
            c.fetchone()

    def old_count(uid: int) -> None:  # before issue 14: count every member above
        with connection.cursor() as c:
            c.execute(
                "SELECT count(*) FROM rewards_earningtotal WHERE period = %s AND bucket = %s AND coins > "
                "(SELECT coins FROM rewards_earningtotal WHERE period = %s AND bucket = %s AND user_id = %s)",
                [period, bucket, period, bucket, uid],
            )
            c.fetchone()

    def cells(uid: int) -> None:
        _me_sql(period, bucket, uid)

    where = positions(period, bucket)
    results: dict[tuple[str, str], list[tuple[float, float]]] = {}
    slowest = (0.0, 0)
    for _ in range(ROUNDS):
        for pos, ids in where.items():
            for label, fn, n in (
                ("reference", reference, SAMPLES),
                ("cells", cells, SAMPLES),
                ("old", old_count, OLD_SAMPLES),
            ):
                fn(ids[0])
                samples = []
                for _ in range(n):
                    uid = random.choice(ids)
                    t = time.perf_counter()
                    fn(uid)
                    samples.append(time.perf_counter() - t)
                    if label == "cells" and samples[-1] > slowest[0]:
                        slowest = (samples[-1], uid)
                results.setdefault((pos, label), []).append(p50_p95(samples))
    print(f"\nOwn rank, {period}:{bucket} ({ROUNDS} rounds; best p50/p95, spread of p95 across rounds):")
    for pos in where:
        for label in ("reference", "cells", "old"):
            rounds = results[(pos, label)]
            best50, best95 = min(r[0] for r in rounds), min(r[1] for r in rounds)
            spread = max(r[1] for r in rounds) - best95
            name = {"reference": "indexed SELECT", "cells": "own rank (cells)", "old": "old COUNT above"}[label]
            print(f"  {pos:6s} {name:17s} p50 {best50:8.3f} ms · p95 {best95:8.3f} ms (spread {spread:.3f} ms)")
        ratio = min(r[1] for r in results[(pos, "cells")]) / min(r[1] for r in results[(pos, "reference")])
        print(f"  {pos:6s} own rank p95 / reference p95 = {ratio:.1f}x")
    explain_slowest(period, bucket, slowest[1], slowest[0])


def explain_slowest(period: str, bucket: str, uid: int, seconds: float) -> None:
    from django.db import connection

    from rewards import rank_cells

    with connection.cursor() as c:
        c.execute(
            "SELECT coins FROM rewards_earningtotal WHERE period = %s AND bucket = %s AND user_id = %s",
            [period, bucket, uid],
        )
        coins = c.fetchone()[0]
        params: list[object] = []
        for level in range(rank_cells.LEVELS):
            cell = coins >> (rank_cells.SHIFT * level)
            params += [period, bucket, level, cell, (((cell >> rank_cells.SHIFT) + 1) << rank_cells.SHIFT) - 1]
        c.execute("EXPLAIN (ANALYZE, BUFFERS) " + rank_cells._MEMBERS_ABOVE, params)
        print(f"\nSlowest own rank ({seconds * 1000:.3f} ms, user #{uid}, {coins} coins): the cells query")
        print("\n".join("  " + r[0] for r in c.fetchall()))


def bench_writes() -> None:
    """What the cells add to an award's leaderboard write: totals_add (totals + cells) against
    the totals upsert alone (before issue 14), each in its own transaction."""
    from django.db import connection, transaction
    from django.utils import timezone

    from rewards.services.leaderboards import totals_add

    with connection.cursor() as c:
        c.execute("SELECT min(id), max(id) FROM accounts_user")
        lo, hi = c.fetchone()
    at = timezone.now()

    def old(uid: int) -> None:
        with connection.cursor() as c:
            c.executemany(
                "INSERT INTO rewards_earningtotal (period, bucket, user_id, coins) VALUES (%s, %s, %s, %s) "
                "ON CONFLICT (period, bucket, user_id) DO UPDATE SET coins = rewards_earningtotal.coins + "
                "excluded.coins",
                [(p, b, uid, 1000) for p, b in (("all", "all"), ("month", MONTH), ("week", WEEK))],
            )

    print("\nLeaderboard write per award (3 buckets), in its own transaction:")
    for label, fn in (("totals only (before)", old), ("totals + cells (now)", None)):
        rounds = []
        for _ in range(ROUNDS):
            samples = []
            for _ in range(SAMPLES):
                uid = random.randint(lo, hi)
                t = time.perf_counter()
                with transaction.atomic():
                    if fn:
                        fn(uid)
                    else:
                        totals_add(user_id=uid, at=at, delta=1000)
                samples.append(time.perf_counter() - t)
            rounds.append(p50_p95(samples))
        best50, best95 = min(r[0] for r in rounds), min(r[1] for r in rounds)
        print(
            f"  {label:22s} p50 {best50:.3f} ms · p95 {best95:.3f} ms (spread {max(r[1] for r in rounds) - best95:.3f})"
        )


MONTH = WEEK = ""


def main() -> None:
    global MONTH, WEEK
    keep = "--keep" in sys.argv
    print(f"Bench database {BENCH_DB}: {USERS:,} members; machine load: {os.getloadavg()}")
    psql(f"DROP DATABASE IF EXISTS {BENCH_DB}")
    psql(f"CREATE DATABASE {BENCH_DB}")
    try:
        timed("migrate", lambda: subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True))
        import django

        django.setup()
        from django.utils import timezone

        from rewards.selectors import bucket_for

        MONTH, WEEK = bucket_for("month", timezone.now()), bucket_for("week", timezone.now())
        generate(MONTH, WEEK)
        bench_reads("all", "all")
        bench_reads("week", WEEK)
        bench_writes()
        print(f"\nmachine load at the end: {os.getloadavg()}")
    finally:
        from django.db import connections

        connections.close_all()
        if not keep:
            psql(f"DROP DATABASE IF EXISTS {BENCH_DB}")
            print(f"\nDropped {BENCH_DB}.")


if __name__ == "__main__":
    main()
