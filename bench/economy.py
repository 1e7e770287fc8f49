"""Economy page benchmark (run by hand): each chart's queries on a generated history of 100,000
members and 5,000,000 transfers over a year, 3 rounds (best and spread), then EXPLAIN (ANALYZE,
BUFFERS) of the slowest query. Target: every chart under 1 second.

    BENCH_PG=postgres://postgres@127.0.0.1:5432 .venv/bin/python bench/economy.py
    BENCH_MEMBERS=10000 BENCH_TRANSFERS=500000 .venv/bin/python bench/economy.py   # a quick run
    .venv/bin/python bench/economy.py --keep; .venv/bin/python bench/economy.py --reuse  # measure again

It creates the dedicated database BENCH_DB (default gb_economy_bench, dropping an old one), runs
the migrations, generates the history with set-based SQL (generate_series into an UNLOGGED
staging table, then INSERT … SELECT; the ledger's triggers are off for the load, with
session_replication_role = replica), measures, and drops the database (--keep to keep it).

History: members' accounts; transfers of every kind, skewed towards recent days and active
members; a completed payment behind every purchase (four providers/coins, three packages), a
refund for 1 in 200; an award (one of the four seeded rules) behind every `earn`; a download
record behind every `download`, a third of them unlocks; credit lots per member (paid, bonus,
earned, and expiring granted ones) summing to the balance. Balances are set from the lots.
Then the hourly rollups are built (as the first beat run would) and reconciled, and each chart
is timed over the last 30 days (the page's default) and the last 366 (the longest it allows).
"""

import os
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BENCH_DB = os.environ.get("BENCH_DB", "gb_economy_bench")
assert BENCH_DB.endswith("_bench"), "the bench database name must end in _bench"
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
MEMBERS = int(os.environ.get("BENCH_MEMBERS", 100_000))
TRANSFERS = int(os.environ.get("BENCH_TRANSFERS", 5_000_000))
ROUNDS = 3
os.environ["DATABASE_URL"] = f"{PG}/{BENCH_DB}"
os.environ["LOG_LEVEL"] = "WARNING"
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

# kind, share of transfers, the member side ("in": credited, "out": debited), counterparty
KINDS = [
    ("purchase", 0.08, "in", "issuance"),
    ("bonus", 0.06, "in", "promotions"),
    ("earn", 0.30, "in", "rewards_pool"),
    ("bounty", 0.02, "in", "escrow"),
    ("refund", 0.01, "in", "revenue"),
    ("adjustment", 0.01, "in", "issuance"),
    ("download", 0.36, "out", "revenue"),
    ("redeem", 0.08, "out", "revenue"),
    ("escrow", 0.03, "out", "escrow"),
    ("reversal", 0.02, "out", "issuance"),
    ("expiry", 0.03, "out", "promotions"),
]


def psql(sql: str, db: str = "postgres") -> None:
    subprocess.run(["psql", f"{PG}/{db}", "-v", "ON_ERROR_STOP=1", "-qc", sql], check=True)


def timed(label: str, fn: Callable[[], Any]) -> Any:
    t = time.perf_counter()
    out = fn()
    print(f"  {label}: {time.perf_counter() - t:.1f}s", flush=True)
    return out


def _kind_case() -> str:
    """SQL: the kind for a uniform random `r` in [0, 1), by the shares above."""
    parts, edge = [], 0.0
    for kind, share, _side, _other in KINDS:
        edge += share
        parts.append(f"WHEN r < {edge:.4f} THEN '{kind}'")
    return "CASE " + " ".join(parts) + f" ELSE '{KINDS[-1][0]}' END"


def generate() -> None:
    from django.db import connection

    from wallet.models import SystemAccount
    from wallet.services import system_account

    ids = {name: system_account(name=name).pk for name in SystemAccount.values}
    c = connection.cursor()
    c.execute("SET session_replication_role = replica")  # ledger triggers off for the bulk load
    c.execute("SET work_mem = '256MB'")
    timed(
        f"{MEMBERS:,} members and accounts",
        lambda: (
            c.execute(
                "INSERT INTO accounts_user (password, is_superuser, email, display_name, is_staff, is_active,"
                " date_joined, pin_failures, display_currency, language, time_zone)"
                " SELECT '!', false, 'm' || g || '@bench.local', 'Member ' || g, false, true,"
                " now() - interval '400 days', 0, 'USD', '', '' FROM generate_series(1, %s) g",
                [MEMBERS],
            ),
            c.execute(
                "INSERT INTO wallet_account (user_id, currency_id, system_name, balance, held, version, frozen, created_at)"
                " SELECT id, 'CREDIT', '', 0, 0, 0, false, date_joined FROM accounts_user WHERE email LIKE '%%@bench.local'"
            ),
        ),
    )
    c.execute("SELECT min(id), max(id) FROM wallet_account WHERE user_id IS NOT NULL")
    first, last = c.fetchone()
    other = "CASE kind " + " ".join(f"WHEN '{k}' THEN {ids[o]}" for k, _s, _d, o in KINDS) + " END"
    ins = " ".join(f"WHEN '{k}' THEN true" for k, _s, d, _o in KINDS if d == "in")
    c.execute("CREATE UNLOGGED TABLE bench_t (g bigint, kind text, member bigint, amount bigint, at timestamptz)")
    # Active members do most (random()^3), recent days see more (sqrt): a growing site.
    timed(
        f"{TRANSFERS:,} transfers staged",
        lambda: c.execute(
            f"INSERT INTO bench_t SELECT g, {_kind_case()}, %s + floor((%s - %s + 1) * random() ^ 3)::bigint,"  # noqa: S608
            " (1 + floor(random() * 50))::bigint * 100, now() - sqrt(random()) * interval '365 days'"
            " FROM (SELECT g, random() AS r FROM generate_series(1, %s) g) s",
            [first, last, first, TRANSFERS],
        ),
    )
    timed(
        "wallet_transfer",
        lambda: c.execute(
            "INSERT INTO wallet_transfer (id, currency_id, debit_account_id, credit_account_id, amount, kind, memo,"  # noqa: S608
            " idempotency_key, fingerprint, cause_id, created_at)"
            f" SELECT g, 'CREDIT', CASE WHEN {_in('kind', ins)} THEN {other} ELSE member END,"
            f" CASE WHEN {_in('kind', ins)} THEN member ELSE {other} END, amount, kind, '', 'bench:' || g, '', '', at"
            " FROM bench_t"
        ),
    )
    c.execute("SELECT setval(pg_get_serial_sequence('wallet_transfer', 'id'), (SELECT max(id) FROM wallet_transfer))")
    _apps(c)
    _lots(c)
    c.execute("SET session_replication_role = origin")
    c.execute("RESET work_mem")  # the charts are measured with the server's, as the page runs
    c.execute("DROP TABLE bench_t")
    connection.set_autocommit(True)
    timed("VACUUM ANALYZE", lambda: c.execute("VACUUM ANALYZE"))


def _in(column: str, whens: str) -> str:
    return f"(CASE {column} {whens} ELSE false END)"


def _apps(c: Any) -> None:
    """The apps' rows behind the ledger: payments, refunds, awards, download records."""
    timed(
        "payments (one per purchase)",
        lambda: c.execute(
            "INSERT INTO payments_payment (user_id, package_name, usd_cents, base_credits, bonus_credits, provider,"
            " status, status_detail, coin, coin_amount, received_amount, address, confirms_needed, confirmations,"
            " checkout_url, status_url, qrcode_url, wallet_address, block_hash, rejected_reference, created_at,"
            " updated_at, completed_at, excess_amount, flagged_for_review, reference)"
            " SELECT a.user_id, (ARRAY['Starter Pack','Popular Pack','Premium Pack'])[1 + t.id % 3], t.amount, t.amount,"
            " 0, (ARRAY['coinpayments','coinpayments','coinpayments','e9th'])[1 + t.id % 4],"
            " CASE WHEN t.id % 200 = 0 THEN 'refunded' ELSE 'completed' END, '',"
            " (ARRAY['BTC','USDT.TRC20','LTC','E9USD'])[1 + t.id % 4], '', '', '', 0, 0, '', '', '', '', '', '',"
            " t.created_at, t.created_at, t.created_at, '', false, 'bench-' || t.id"
            " FROM wallet_transfer t JOIN wallet_account a ON a.id = t.credit_account_id WHERE t.kind = 'purchase'"
        ),
    )
    c.execute("SELECT min(id) FROM accounts_user")
    staff = c.fetchone()[0]
    c.execute(
        "INSERT INTO payments_refundrequest (payment_id, reason, status, requested_by_id, requested_at, decided_by_id,"
        " decided_at, decision_note) SELECT id, 'bench', 'approved', %s, completed_at, %s + 1,"
        " completed_at + interval '1 day', '' FROM payments_payment WHERE status = 'refunded'",
        [staff, staff],
    )
    c.execute("SELECT array_agg(id ORDER BY id) FROM rewards_earningrule")
    rules = c.fetchone()[0]
    timed(
        "awards (one per earn)",
        lambda: c.execute(
            "INSERT INTO rewards_award (rule_id, user_id, object_key, generation, amount, base_amount,"
            " counts_toward_cap, status, created_at, transfer_id)"
            " SELECT (%s::bigint[])[1 + t.id %% %s], a.user_id, 'bench:' || t.id, 1, t.amount, t.amount, true,"
            " 'granted', t.created_at, t.id"
            " FROM wallet_transfer t JOIN wallet_account a ON a.id = t.credit_account_id WHERE t.kind = 'earn'",
            [rules, len(rules)],
        ),
    )
    c.execute(
        "INSERT INTO downloads_item (slug, title, description, kind, file, size, sha256, price, pricing_mode, is_active,"
        " platform, symbol, timeframe, report_file, verification, verification_note, created_at, updated_at)"
        " VALUES ('bench-item', 'Bench item', '', 'song', 'bench.wav', 1, '', 100, 'metered', true,"
        " '', '', '', '', 'not_required', '', now(), now()) RETURNING id"
    )
    item = c.fetchone()[0]
    timed(
        "download records (one per download, a third unlocks)",
        lambda: c.execute(
            "INSERT INTO downloads_downloadrecord (user_id, item_id, source, charged, free_tier, created_at,"
            " transfer_id) SELECT a.user_id, %s, CASE WHEN t.id %% 3 = 0 THEN 'unlock' ELSE 'metered' END,"
            " t.amount, false, t.created_at, t.id"
            " FROM wallet_transfer t JOIN wallet_account a ON a.id = t.debit_account_id WHERE t.kind = 'download'",
            [item],
        ),
    )


def _lots(c: Any) -> None:
    """Lots per member (paid, bonus, earned open-ended; one expiring granted lot for a tenth),
    and each balance set to its lots' sum, so the page's reconciliation holds."""
    timed(
        "credit lots and balances",
        lambda: (
            c.execute(
                "INSERT INTO wallet_creditlot (account_id, category, remaining, created_at)"
                " SELECT a.id, cat, (1 + floor(random() * 200))::bigint * 100, now()"
                " FROM wallet_account a CROSS JOIN unnest(ARRAY['paid','bonus','earned']) cat WHERE a.user_id IS NOT NULL"
            ),
            c.execute(
                "INSERT INTO wallet_creditlot (account_id, category, remaining, expires_at, created_at)"
                " SELECT id, 'granted', 1000, now() + (id % 90) * interval '1 day', now()"
                " FROM wallet_account WHERE user_id IS NOT NULL AND id % 10 = 0"
            ),
            c.execute(
                "UPDATE wallet_account a SET balance = s.total FROM (SELECT account_id, sum(remaining) total"
                " FROM wallet_creditlot GROUP BY account_id) s WHERE s.account_id = a.id"
            ),
        ),
    )


def charts() -> dict[str, Callable[[Any], Any]]:
    from django.utils import timezone

    from portal.economy import queries

    return {
        "revenue by day": queries.revenue_by_day,
        "revenue by provider/coin": queries.revenue_by_provider,
        "packages sold": queries.packages_sold,
        "refunds": queries.refunds,
        "credits issued / spent": queries.credit_flows,
        "liability": lambda _p: queries.liability(timezone.now()),
        "top earners": queries.top_earners,
        "top spenders": queries.top_spenders,
        "biggest balances": lambda _p: queries.biggest_balances(),
    }


def measure(days: int) -> tuple[str, float, list[str]]:
    """Times every chart over the last `days` days; returns the slowest (name, best, its SQL)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from portal.economy.forms import default_period
    from portal.economy.queries import Period

    base = default_period(ZoneInfo("Asia/Shanghai"))
    period = Period(base.last - timedelta(days=days - 1), base.last, base.zone)
    print(f"\nCharts over {days} days ({period.first} to {period.last}, {ROUNDS} rounds):")
    slowest: tuple[str, float, list[str]] = ("", 0.0, [])
    for name, fn in charts().items():
        times = []
        for _ in range(ROUNDS):
            with CaptureQueriesContext(connection) as ctx:
                t = time.perf_counter()
                fn(period)
                times.append(time.perf_counter() - t)
        best = min(times)
        spread = max(times) - best
        flag = "ok" if best < 1 else "SLOW"
        print(f"  {name:<26} best {best * 1000:8.1f} ms  spread {spread * 1000:7.1f} ms  {len(ctx)} queries  {flag}")
        if best > slowest[1]:
            slowest = (name, best, [q["sql"] for q in ctx.captured_queries])
    from portal.economy.report import build

    t = time.perf_counter()
    build(period)
    print(f"  {'whole report (build)':<26} {(time.perf_counter() - t) * 1000:8.1f} ms")
    return slowest


def explain(name: str, sqls: list[str]) -> None:
    from django.db import connection

    with connection.cursor() as c:
        timings = []
        for sql in sqls:
            t = time.perf_counter()
            c.execute(sql)
            timings.append((time.perf_counter() - t, sql))
        _t, sql = max(timings)
        c.execute("EXPLAIN (ANALYZE, BUFFERS) " + sql)
        print(f"\nEXPLAIN (ANALYZE, BUFFERS) of the slowest chart's slowest query ({name}):\n{sql}\n")
        print("\n".join(row[0] for row in c.fetchall()))


def main() -> None:
    reuse = "--reuse" in sys.argv  # measure a database kept by an earlier --keep run: no generation
    keep = reuse or "--keep" in sys.argv
    print(f"Bench database {BENCH_DB}: {MEMBERS:,} members, {TRANSFERS:,} transfers{' (reused)' if reuse else ''}")
    if not reuse:
        psql(f"DROP DATABASE IF EXISTS {BENCH_DB}")
        psql(f"CREATE DATABASE {BENCH_DB}")
    try:
        timed("migrate", lambda: subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=ROOT, check=True))
        import django

        django.setup()
        if not reuse:
            generate()
        from portal.economy import rollups

        first = "since the kept run" if reuse else "first build (the whole year)"
        timed(f"economy rollups, {first}", rollups.refresh)
        timed("economy rollups, a 10-minute refresh", rollups.refresh)
        differences = timed("rollups reconciled with the ledger (whole ledger)", rollups.reconcile)
        print(f"  differences: {differences or 'none'}")
        results = [measure(30), measure(366)]
        name, best, sqls = max(results, key=lambda r: r[1])
        explain(f"{name}, {best * 1000:.0f} ms", sqls)
        print(f"\nSlowest chart: {name}, best of {ROUNDS}: {best * 1000:.0f} ms (target < 1000 ms)")
    finally:
        from django.db import connections

        connections.close_all()
        if not keep:
            psql(f"DROP DATABASE IF EXISTS {BENCH_DB}")
            print(f"\nDropped {BENCH_DB}.")


if __name__ == "__main__":
    main()
