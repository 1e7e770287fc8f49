#!/usr/bin/env python
"""Ledger throughput on PostgreSQL: transfers per second committed through
`wallet.services.transfer_post` by 8 worker processes, against pgbench's tpcb-like on the same
server in the same run, with two references: pgbench initialised at scale >= the client count
(each client mostly on its own branch row: uncontended, the reference for the spread scenario) and
at scale 1 (every client on one branch row: a hot-row reference, the one for the hot scenario).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/anything make bench-ledger
    .venv/bin/python bench/ledger.py --seconds 15 --rounds 3

DATABASE_URL only says which server to measure (REDIS_URL is ignored: the ledger alone). The
bench drops and recreates its own databases (`gb_bench` for the ledger; for pgbench `gb_pgbench`
at scale >= clients and `gb_pgbench_hot` at scale 1) and never touches the one named in the URL.
Scenarios, each for a fixed duration with all workers started together:

  (a) spread: random pairs of 1000 funded user accounts, user -> user (two row locks each);
  (b) hot:    every transfer debits one user account, crediting the revenue system account.

Targets (issue 14): (a) >= 0.6 of pgbench at scale >= clients, (b) >= 0.5 of pgbench at scale 1
(the ratio against the other reference is printed too, to compare with runs before issue 14).
After each scenario the bench checks that nothing was lost: the transfers in the database are
exactly those the workers saw committed, the hot account's balance is its start minus every
committed debit, and at the end the full ledger audit (cached balances against entries, every
transfer balanced) finds nothing.
"""

import argparse
import multiprocessing as mp
import os
import random
import re
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

WORKERS = 8
N_ACCOUNTS = 1000
FUNDING = 10**9  # minor units per account: nobody runs dry during a run
TARGETS = {"a": 0.60, "b": 0.50}  # issue 14


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=int, default=15, help="duration of each measurement (default 15)")
    p.add_argument("--rounds", type=int, default=1, help="repeat pgbench, (a), (b) this many times (default 1)")
    p.add_argument("--workers", type=int, default=WORKERS)
    p.add_argument("--database", default="gb_bench")
    p.add_argument("--pgbench-database", default="gb_pgbench")
    p.add_argument("--pgbench-hot-database", default="gb_pgbench_hot")
    p.add_argument("--pgbench-scale", type=int, default=0, help="scale of the uncontended reference (default: workers)")
    return p.parse_args()


# --- databases ---------------------------------------------------------------------------------


def server_url(url: str, dbname: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + dbname))


def recreate_database(url: str, dbname: str) -> None:
    if "bench" not in dbname:
        sys.exit(f"Refusing to drop {dbname!r}: the bench only recreates databases named *bench*.")
    import psycopg2

    conn = psycopg2.connect(server_url(url, "postgres"))
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')
        cur.execute(f'CREATE DATABASE "{dbname}"')
    conn.close()


def pgbench_binary() -> str:
    for candidate in (shutil.which("pgbench"), "/usr/lib/postgresql/15/bin/pgbench"):
        if candidate and Path(candidate).exists():
            return candidate
    sys.exit("pgbench not found (apt-get install postgresql-contrib or postgresql-client).")


def pgbench_args(url: str) -> tuple[list[str], dict[str, str]]:
    parts = urlsplit(url)
    args = ["-h", parts.hostname or "127.0.0.1", "-p", str(parts.port or 5432), "-U", parts.username or "postgres"]
    env = dict(os.environ)
    if parts.password:
        env["PGPASSWORD"] = parts.password
    return args, env


def pgbench_init(url: str, dbname: str, scale: int) -> None:
    conn, env = pgbench_args(url)
    subprocess.run(
        [pgbench_binary(), *conn, "-i", "-s", str(scale), "-q", dbname], env=env, check=True, capture_output=True
    )


def pgbench_run(url: str, dbname: str, seconds: int, clients: int) -> float:
    conn, env = pgbench_args(url)
    done = subprocess.run(
        [pgbench_binary(), *conn, "-c", str(clients), "-j", "2", "-T", str(seconds), "-n", "-b", "tpcb-like", dbname],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    match = re.search(r"tps = ([\d.]+) \(without initial connection time\)", done.stdout)
    if not match:
        sys.exit(f"Could not read pgbench's tps:\n{done.stdout}\n{done.stderr}")
    return float(match.group(1))


# --- ledger workers ---------------------------------------------------------------------------


def worker(scenario: str, wid: int, rnd: int, ids: list[int], hot_id: int, revenue_id: int, seconds: int, start, out):  # noqa: ANN001
    from django.db import connection

    from wallet import services
    from wallet.errors import InsufficientFunds
    from wallet.models import Account, TransferKind

    rng = random.Random(f"{rnd}:{scenario}:{wid}")
    accounts = Account.objects.in_bulk([*ids, hot_id, revenue_id])  # also opens this process's connection
    hot, revenue = accounts[hot_id], accounts[revenue_id]
    users = [accounts[i] for i in ids]
    committed = amount_total = refused = 0
    start.wait()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if scenario == "a":
            source, target = rng.sample(users, 2)
            kind = TransferKind.BOUNTY
        else:
            source, target = hot, revenue
            kind = TransferKind.DOWNLOAD
        amount = rng.randint(1, 100)
        try:
            services.transfer_post(
                from_account=source,
                to_account=target,
                amount=amount,
                kind=kind,
                idempotency_key=f"bench:{rnd}:{scenario}:{wid}:{committed + refused}",
            )
        except InsufficientFunds:
            refused += 1
            continue
        committed += 1
        amount_total += amount
    connection.close()
    out.put((committed, amount_total, refused))


def run_scenario(scenario: str, rnd: int, ids: list[int], hot_id: int, revenue_id: int, seconds: int, workers: int):
    from django.db import connections

    connections.close_all()  # never share a connection across fork
    ctx = mp.get_context("fork")
    start = ctx.Barrier(workers + 1)
    out = ctx.Queue()
    procs = [
        ctx.Process(target=worker, args=(scenario, w, rnd, ids, hot_id, revenue_id, seconds, start, out))
        for w in range(workers)
    ]
    for p in procs:
        p.start()
    start.wait()
    began = time.monotonic()
    results = [out.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    elapsed = max(seconds, time.monotonic() - began)
    committed = sum(r[0] for r in results)
    return committed / elapsed, committed, sum(r[1] for r in results), sum(r[2] for r in results)


def check_scenario(scenario: str, rnd: int, committed: int, amount_total: int, hot_before: int, hot_id: int) -> int:
    """Problems found: transfers the workers saw commit but the database lacks (or the reverse),
    and a hot balance that does not equal its start minus every committed debit."""
    from wallet.models import Account, Transfer

    problems = 0
    in_db = Transfer.objects.filter(idempotency_key__startswith=f"bench:{rnd}:{scenario}:").count()
    if in_db != committed:
        print(f"  !! {scenario}: workers committed {committed} transfers, the database has {in_db}")
        problems += 1
    if scenario == "b":
        hot = Account.objects.get(pk=hot_id)
        if hot.balance != hot_before - amount_total:
            print(f"  !! hot account: balance {hot.balance}, expected {hot_before - amount_total}")
            problems += 1
    return problems


def setup_ledger() -> tuple[list[int], int, int]:
    from django.db import transaction

    from accounts.models import User
    from wallet import services
    from wallet.models import SystemAccount, TransferKind

    issuance = services.system_account(name=SystemAccount.ISSUANCE)
    revenue = services.system_account(name=SystemAccount.REVENUE)
    users = User.objects.bulk_create(
        [User(email=f"bench{i}@bench.invalid", password="!") for i in range(N_ACCOUNTS + 1)]  # noqa: S106
    )
    ids = []
    with transaction.atomic():
        for user in users:
            account = services.user_account(user_id=user.pk)
            services.transfer_post(
                from_account=issuance,
                to_account=account,
                amount=FUNDING,
                kind=TransferKind.PURCHASE,
                idempotency_key=f"bench:fund:{user.pk}",
            )
            ids.append(account.pk)
    return ids[:-1], ids[-1], revenue.pk


def main() -> None:
    args = parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit("bench/ledger.py measures PostgreSQL: set DATABASE_URL=postgres://user@host:port/any (server only).")
    print(f"Preparing {args.database} and {args.pgbench_database} on {urlsplit(url).hostname}:{urlsplit(url).port}…")
    # tpcb-like updates one of `scale` branch rows per transaction: at scale 1 every client waits on
    # the same row (the hot-row reference for (b)); at scale >= clients they rarely meet (for (a)).
    scale = max(args.pgbench_scale, args.workers)
    recreate_database(url, args.database)
    recreate_database(url, args.pgbench_database)
    recreate_database(url, args.pgbench_hot_database)
    pgbench_init(url, args.pgbench_database, scale)
    pgbench_init(url, args.pgbench_hot_database, 1)

    os.environ["DATABASE_URL"] = server_url(url, args.database)
    # The ledger alone: with REDIS_URL every committed transfer also publishes a live update to
    # Redis after commit (core.live), which is the site's cost, measured by `make loadtest`.
    os.environ.pop("REDIS_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["LOG_LEVEL"] = "WARNING"  # one INFO line per transfer would measure logging
    # As deployed: DEBUG (the settings' default for development) wraps every cursor to record
    # and log each query, ~10% of a worker's CPU per transfer; pgbench records nothing either.
    os.environ["DEBUG"] = "false"
    import django

    django.setup()
    from django.core.management import call_command

    from wallet.audit import run_audit
    from wallet.models import Account

    call_command("migrate", verbosity=0)
    ids, hot_id, revenue_id = setup_ledger()
    cpus = os.cpu_count()
    print(
        f"{N_ACCOUNTS} funded accounts + 1 hot account; {args.workers} workers; {args.seconds}s per run; {cpus} CPUs; "
        f"pgbench references at scale {scale} and scale 1; load average {os.getloadavg()[0]:.1f}"
    )

    rows = []
    lost = 0
    for rnd in range(1, args.rounds + 1):
        ref = pgbench_run(url, args.pgbench_database, args.seconds, args.workers)
        ref_hot = pgbench_run(url, args.pgbench_hot_database, args.seconds, args.workers)
        tps_a, n_a, amt_a, _ = run_scenario("a", rnd, ids, hot_id, revenue_id, args.seconds, args.workers)
        lost += check_scenario("a", rnd, n_a, amt_a, 0, hot_id)
        hot_before = Account.objects.get(pk=hot_id).balance
        tps_b, n_b, amt_b, refused = run_scenario("b", rnd, ids, hot_id, revenue_id, args.seconds, args.workers)
        lost += check_scenario("b", rnd, n_b, amt_b, hot_before, hot_id)
        rows.append((ref, ref_hot, tps_a, tps_b))
        print(
            f"round {rnd}: pgbench scale {scale} {ref:8.1f} tps, scale 1 {ref_hot:8.1f} tps "
            f"| (a) spread {tps_a:7.1f} tps = {tps_a / ref:.2f} of scale {scale} "
            f"| (b) hot {tps_b:7.1f} tps = {tps_b / ref_hot:.2f} of scale 1   ({n_a} + {n_b} transfers)"
        )

    print("Auditing the bench ledger…")
    audit = run_audit()
    lost += audit.problem_count
    user_sum = sum(Account.objects.filter(user__isnull=False).values_list("balance", flat=True))
    system_sum = sum(sb.balance for sb in audit.system_balances)
    if user_sum + system_sum != 0:
        lost += 1

    print()
    print(f"{'':30}{'best':>10}{'spread (min..max)':>22}{'ratio (best, median)':>24}{'vs other ref':>14}{'target':>8}")
    for label, idx in ((f"pgbench tpcb-like, scale {scale}", 0), ("pgbench tpcb-like, scale 1", 1)):
        refs = [r[idx] for r in rows]
        print(f"{label:30}{max(refs):10.1f}{min(refs):12.1f} ..{max(refs):8.1f}")
    # (a) is measured against the uncontended reference, (b) against the hot-row one; the ratio
    # against the other reference is printed for comparison with runs before issue 14.
    for label, key, idx, ref_idx, other_idx in (
        (f"(a) spread over {N_ACCOUNTS} accts", "a", 2, 0, 1),
        ("(b) one hot account", "b", 3, 1, 0),
    ):
        values = [r[idx] for r in rows]
        ratios = [r[idx] / r[ref_idx] for r in rows]
        other = max(r[idx] / r[other_idx] for r in rows)
        verdict = "met" if max(ratios) >= TARGETS[key] else "MISSED"
        print(
            f"{label:30}{max(values):10.1f}{min(values):12.1f} ..{max(values):8.1f}"
            f"{max(ratios):14.2f} ({statistics.median(ratios):.2f}){other:12.2f}{TARGETS[key]:>8.2f} {verdict}"
        )
    print(
        f"lost updates: {lost}  (committed transfers all present, hot balance exact, audit "
        f"{'clean' if audit.problem_count == 0 else 'FAILED'}, users + system accounts = {user_sum + system_sum})"
    )
    sys.exit(1 if lost else 0)


if __name__ == "__main__":
    main()
