"""Rewards benchmarks (run by hand): leaderboard read latency at 1,000,000 members and
10,000,000 award entries, on the Redis and the SQL-aggregate paths, each next to a reference
measured in the same run; and signed events ingested per second over HTTP on 127.0.0.1.

    BENCH_DB=gb_rewards_bench REDIS_URL=redis://127.0.0.1:6379/5 .venv/bin/python bench/rewards.py

It creates the dedicated database BENCH_DB (dropping an old one), generates data with set-based
SQL, measures, and drops the database at the end (--keep to keep it). Never point it at a test DB.

Data: members and earned totals are generated directly (set-based SQL): 10M award rows go into an
UNLOGGED staging table and are aggregated into rewards_earningtotal exactly as the award path
maintains it (all-time, this month, this week). The wallet ledger is not filled with 10M transfers:
leaderboard reads never touch it; the ingest part of the bench goes through the real ledger.
"""

import hashlib
import hmac
import http.client
import json
import os
import random
import secrets
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BENCH_DB = os.environ.get("BENCH_DB", "gb_rewards_bench")
assert BENCH_DB.endswith("_bench"), "the bench database name must end in _bench"
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
USERS = int(os.environ.get("BENCH_USERS", 1_000_000))
AWARDS = int(os.environ.get("BENCH_AWARDS", 10_000_000))
PORT = int(os.environ.get("BENCH_PORT", 8500))
EVENTS = int(os.environ.get("BENCH_EVENTS", 3000))
SAMPLES = int(os.environ.get("BENCH_SAMPLES", 400))
os.environ["DATABASE_URL"] = f"{PG}/{BENCH_DB}"
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/5")
os.environ["REWARDS_REDIS_PREFIX"] = "bench:rewards:lb"
os.environ["DEBUG"] = "false"
os.environ["LOG_LEVEL"] = "WARNING"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# gunicorn refuses the published development key outside DEBUG (config/wsgi.py).
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))


def psql(sql: str, db: str = "postgres") -> None:
    subprocess.run(["psql", f"{PG}/{db}", "-v", "ON_ERROR_STOP=1", "-qc", sql], check=True)


def timed(label: str, fn):
    t = time.perf_counter()
    out = fn()
    print(f"  {label}: {time.perf_counter() - t:.1f}s", flush=True)
    return out


def pct(samples: list[float]) -> str:
    s = sorted(samples)
    return f"p50 {statistics.median(s) * 1000:.3f} ms · p95 {s[int(len(s) * 0.95)] * 1000:.3f} ms"


def generate() -> None:
    from django.db import connection

    from rewards.rank_cells import cells_rebuild
    from rewards.selectors import bucket_for

    month, week = bucket_for("month", now()), bucket_for("week", now())
    with connection.cursor() as c:
        timed(
            f"{USERS:,} users",
            lambda: c.execute(
                "INSERT INTO accounts_user (password, is_superuser, email, display_name, is_staff, is_active, date_joined,"
                " pin_failures, display_currency, language, time_zone) "
                "SELECT '!', false, 'u' || g || '@bench.local', 'Member ' || g, false, true, now(), 0, 'USD', '', '' "
                "FROM generate_series(1, %s) g",
                [USERS],
            ),
        )
        c.execute("SELECT min(id) FROM accounts_user")
        first = c.fetchone()[0]
        c.execute("CREATE UNLOGGED TABLE bench_award (user_id bigint, amount bigint, at timestamptz)")
        # Skewed like real forums: a few members earn most. Amounts 10-50 coins; last 60 days.
        timed(
            f"{AWARDS:,} award entries",
            lambda: c.execute(
                "INSERT INTO bench_award SELECT %s + floor(%s * random() ^ 3)::bigint, "
                "(1 + floor(random() * 5))::bigint * 1000, now() - random() * interval '60 days' "
                "FROM generate_series(1, %s)",
                [first, USERS, AWARDS],
            ),
        )
        c.execute("SET work_mem = '256MB'")
        timed(
            "aggregate all/month/week",
            lambda: c.execute(
                "INSERT INTO rewards_earningtotal (period, bucket, user_id, coins) "
                "SELECT 'all', 'all', user_id, sum(amount) FROM bench_award GROUP BY user_id "
                "UNION ALL SELECT 'month', %s, user_id, sum(amount) FROM bench_award "
                "  WHERE to_char(at AT TIME ZONE 'UTC', 'YYYY-MM') = %s GROUP BY user_id "
                "UNION ALL SELECT 'week', %s, user_id, sum(amount) FROM bench_award "
                "  WHERE to_char(at AT TIME ZONE 'UTC', 'IYYY-\"W\"IW') = %s GROUP BY user_id",
                [month, month, week, week],
            ),
        )
        # Events credit a verified address only: the ingest's members have verified theirs.
        c.execute(
            'INSERT INTO account_emailaddress (user_id, email, verified, "primary") '
            "SELECT id, email, true, true FROM accounts_user WHERE id <= %s",
            [min(USERS, 50000)],
        )
        # The SQL own rank reads the rank cells (rewards.rank_cells), kept beside the totals.
        timed("rank cells", cells_rebuild)
        timed(
            "VACUUM ANALYZE",
            lambda: (
                connection.set_autocommit(True),
                c.execute("VACUUM ANALYZE rewards_earningtotal, rewards_leaderboardcell"),
            ),
        )
        c.execute("SELECT period, count(*) FROM rewards_earningtotal GROUP BY period ORDER BY period")
        print("  totals rows:", dict(c.fetchall()))


def now():
    from django.utils import timezone

    return timezone.now()


def load_redis() -> None:
    from django.db import connection

    from rewards.selectors import redis_client, redis_key, redis_member

    client = redis_client()
    for key in client.scan_iter(match="bench:rewards:lb:*"):
        client.delete(key)
    with connection.cursor() as c:
        c.execute("SELECT period, bucket, user_id, coins FROM rewards_earningtotal")
        pipe, n = client.pipeline(transaction=False), 0
        while rows := c.fetchmany(20000):
            batch: dict[str, dict[str, int]] = {}
            for period, bucket, uid, coins in rows:
                batch.setdefault(redis_key(period, bucket), {})[redis_member(uid)] = coins
            for key, members in batch.items():
                pipe.zadd(key, members)
            pipe.execute()
            n += len(rows)
    print(f"  {n:,} Redis members loaded", flush=True)


def bench_reads() -> None:
    from django.conf import settings
    from django.db import connection
    from django.test import Client

    from accounts.models import User
    from accounts.services import api_session_create
    from rewards.selectors import leaderboard, redis_client

    with connection.cursor() as c:
        c.execute("SELECT min(id), max(id) FROM accounts_user")
        lo, hi = c.fetchone()
    ids = [random.randint(lo, hi) for _ in range(SAMPLES)]
    client = Client()
    token = api_session_create(user=User.objects.get(pk=ids[0]), ip=None, user_agent="bench")[1]

    def ref_sql():
        with connection.cursor() as c:
            c.execute("SELECT id FROM accounts_user WHERE id = %s", [random.randint(lo, hi)])
            c.fetchone()

    def run(fn, n=SAMPLES):
        fn()
        out = []
        for i in range(n):
            t = time.perf_counter()
            fn(i)
            out.append(time.perf_counter() - t)
        return out

    print("\nLeaderboard reads (top 10 + own rank of a random member):")
    print(f"  reference SQL  SELECT by pk        {pct(run(lambda i=0: ref_sql()))}")
    rc = redis_client()
    print(f"  reference Redis PING               {pct(run(lambda i=0: rc.ping()))}")
    for backend in ("sql", "auto"):
        settings.REWARDS_LEADERBOARD_BACKEND = backend
        name = "Redis" if backend == "auto" else "SQL aggregates"
        for period in ("all", "month", "week"):
            samples = run(lambda i=0, p=period: leaderboard(period=p, limit=10, user_id=ids[i % len(ids)]))
            print(f"  {name:15s} selector {period:5s}     {pct(samples)}")
        samples = run(
            lambda i=0: client.get("/api/rewards/leaderboard?period=all&limit=10", HTTP_AUTHORIZATION=f"Bearer {token}")
        )
        print(f"  {name:15s} GET API all (me)   {pct(samples)}")
        # Worst case for SQL: the member with the fewest coins counts ~everyone above them.
        with connection.cursor() as c:
            c.execute("SELECT user_id FROM rewards_earningtotal WHERE period='all' ORDER BY coins, user_id LIMIT 1")
            bottom = c.fetchone()[0]
        samples = run(lambda i=0, b=bottom: leaderboard(period="all", limit=10, user_id=b), n=50)
        print(f"  {name:15s} bottom member rank {pct(samples)}")


def bench_ingest() -> None:
    from rewards import services
    from rewards.models import Integration

    Integration.objects.filter(name="bench").delete()
    _, secret = services.integration_create(name="bench")
    env = {**os.environ, "ALLOWED_HOSTS": "127.0.0.1", "CONN_MAX_AGE": "60"}
    server = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "config.wsgi",
            "-b",
            f"127.0.0.1:{PORT}",
            "-w",
            "3",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    try:
        for _ in range(50):
            try:
                http.client.HTTPConnection("127.0.0.1", PORT, timeout=1).request("GET", "/api/rewards/bounties")
                break
            except OSError:
                time.sleep(0.2)

        def worker(start: int, count: int, results: list, kind: str) -> None:
            conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=30)
            for n in range(start, start + count):
                if kind == "ref":
                    conn.request("GET", "/api/rewards/bounties")
                else:
                    body = json.dumps(
                        {
                            "event_id": f"bench-{n}",
                            "type": "answer.accepted",
                            "user": {"email": f"u{1 + n % min(USERS, 50000)}@bench.local"},
                            "object": {"type": "answer", "id": n},
                        }
                    ).encode()
                    stamp = str(int(time.time()))  # signed with its timestamp (replay window)
                    mac = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256)
                    sig = "sha256=" + mac.hexdigest()
                    conn.request(
                        "POST",
                        "/api/rewards/events",
                        body,
                        {
                            "Content-Type": "application/json",
                            "X-Goldbook-Integration": "bench",
                            "X-Goldbook-Signature": sig,
                            "X-Goldbook-Timestamp": stamp,
                        },
                    )
                resp = conn.getresponse()
                resp.read()
                results.append(resp.status)

        for kind, total in (("ref", EVENTS), ("events", EVENTS)):
            results: list[int] = []
            threads = [
                threading.Thread(target=worker, args=(i * (total // 4), total // 4, results, kind)) for i in range(4)
            ]
            t = time.perf_counter()
            for th in threads:
                th.start()
            for th in threads:
                th.join()
            elapsed = time.perf_counter() - t
            label = "reference GET /api/rewards/bounties" if kind == "ref" else "signed POST /api/rewards/events"
            codes = {c: results.count(c) for c in set(results)}
            print(f"  {label:38s} {len(results) / elapsed:7.0f} req/s  ({len(results)} in {elapsed:.1f}s, {codes})")
    finally:
        server.terminate()
        server.wait(timeout=10)


def main() -> None:
    keep = "--keep" in sys.argv
    print(f"Bench database {BENCH_DB}: {USERS:,} users, {AWARDS:,} award entries")
    psql(f"DROP DATABASE IF EXISTS {BENCH_DB}")
    psql(f"CREATE DATABASE {BENCH_DB}")
    try:
        timed("migrate", lambda: subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True))
        import django

        django.setup()
        generate()
        timed("load Redis", load_redis)
        bench_reads()
        print("\nIngest over HTTP (gunicorn, 3 sync workers, 4 client threads, 127.0.0.1):")
        bench_ingest()
    finally:
        from django.db import connections

        connections.close_all()
        if not keep:
            from rewards.selectors import redis_client

            client = redis_client()
            for key in client.scan_iter(match="bench:rewards:lb:*"):
                client.delete(key)
            psql(f"DROP DATABASE IF EXISTS {BENCH_DB}")
            print(f"\nDropped {BENCH_DB}.")


if __name__ == "__main__":
    main()
