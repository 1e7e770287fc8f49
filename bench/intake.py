#!/usr/bin/env python
"""Event intake throughput on PostgreSQL (issue 14), next to the ledger's spread transfers/s in
the same run: signed forum events over HTTP one per request and in batches of 500, and a backfill
with `manage.py import_events` (in-process, batches of 500). Every event is a real award
(answer.accepted, +20) through `wallet.services`.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/anything .venv/bin/python bench/intake.py --seconds 5 --rounds 3

DATABASE_URL only names the server: the bench drops and recreates its own database (`gb_intake_bench`)
and drops it at the end. Bounded: each figure is measured for --seconds (the import for
--import-events events), --rounds times; it prints the best and the spread, and the ratios to the
ledger's figure of the same round. Targets: HTTP intake >= 0.4x ledger (a); import >= 2,000 events/s.
"""

import argparse
import hashlib
import hmac
import http.client
import json
import os
import secrets
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.ledger import recreate_database, run_scenario, server_url, setup_ledger  # noqa: E402

MEMBERS = 5000
PORT = int(os.environ.get("BENCH_PORT", 8510))


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=int, default=5, help="per HTTP and ledger figure (default 5)")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--import-events", type=int, default=20000, help="events per import round (default 20,000)")
    p.add_argument("--clients", type=int, default=4, help="HTTP client threads (default 4)")
    p.add_argument("--workers", type=int, default=3, help="gunicorn sync workers (default 3)")
    p.add_argument("--database", default="gb_intake_bench")
    return p.parse_args()


def setup_members() -> str:
    from allauth.account.models import EmailAddress

    from accounts.models import User
    from rewards import services

    users = User.objects.bulk_create(
        [User(email=f"m{i}@intake.invalid", password="!") for i in range(MEMBERS)]  # noqa: S106
    )
    EmailAddress.objects.bulk_create([EmailAddress(user=u, email=u.email, primary=True, verified=True) for u in users])
    _, secret = services.integration_create(name="bench")
    return secret


def event(tag: str, n: int, offset: int = 0) -> dict:
    """An accepted answer (+20). Each HTTP client has its own members (`offset`): members' events
    are serialised by their profile lock, and a forum's concurrent requests rarely share them."""
    return {
        "event_id": f"{tag}-{n}",
        "type": "answer.accepted",
        "user": {"email": f"m{(offset + n) % MEMBERS}@intake.invalid"},
        "object": {"type": "answer", "id": f"{tag}-{n}"},
    }


def http_rate(secret: str, tag: str, seconds: int, clients: int, batch: int) -> tuple[float, dict[int, int]]:
    """Events/s posted for `seconds` by `clients` threads, `batch` events per request (1: the
    single-event endpoint)."""
    counts: list[int] = []
    codes: dict[int, int] = {}
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def client(c: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=120)
        n = done = 0
        while time.monotonic() < deadline:
            evs = [event(f"{tag}-{c}", n + i, offset=c * (MEMBERS // clients)) for i in range(batch)]
            body = json.dumps(evs[0] if batch == 1 else {"events": evs}).encode()
            stamp = str(int(time.time()))
            sig = hmac.new(secret.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
            headers = {
                "Content-Type": "application/json",
                "X-Goldbook-Integration": "bench",
                "X-Goldbook-Timestamp": stamp,
                "X-Goldbook-Signature": f"sha256={sig}",
            }
            conn.request("POST", "/api/rewards/events" + ("" if batch == 1 else "/batch"), body, headers)
            resp = conn.getresponse()
            payload = resp.read()
            with lock:
                codes[resp.status] = codes.get(resp.status, 0) + 1
            if resp.status in (200, 202):
                applied = 1 if batch == 1 else json.loads(payload)["counts"]["applied"]
                done += applied
            n += batch
        with lock:
            counts.append(done)

    began = time.monotonic()
    threads = [threading.Thread(target=client, args=(c,)) for c in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / (time.monotonic() - began), codes


def import_rate(tag: str, total: int) -> float:
    from django.core.management import call_command

    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as handle:
        for n in range(total):
            handle.write(json.dumps(event(tag, n)) + "\n")
    began = time.monotonic()
    with open(os.devnull, "w") as sink:
        call_command(
            "import_events", handle.name, "--integration", "bench", "--progress-every", str(10**9), stdout=sink
        )
    rate = total / (time.monotonic() - began)
    os.unlink(handle.name)
    return rate


def start_server(workers: int) -> subprocess.Popen:
    env = {**os.environ, "ALLOWED_HOSTS": "127.0.0.1", "CONN_MAX_AGE": "60", "DEBUG": "false"}
    env.setdefault("SECRET_KEY", secrets.token_urlsafe(50))
    gunicorn = str(ROOT / ".venv/bin/gunicorn")
    server = subprocess.Popen(
        [
            gunicorn,
            "config.wsgi",
            "-b",
            f"127.0.0.1:{PORT}",
            "-w",
            str(workers),
            "--timeout",
            "300",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    for _ in range(100):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", PORT, timeout=1)
            conn.request("GET", "/api/rewards/bounties")
            conn.getresponse().read()
            return server
        except OSError:
            time.sleep(0.2)
    server.terminate()
    sys.exit("gunicorn did not start")


def spread(values: list[float]) -> str:
    return f"{max(values):10.1f}{min(values):12.1f} ..{max(values):8.1f}"


def main() -> None:
    args = parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith(("postgres://", "postgresql://")):
        sys.exit("bench/intake.py measures PostgreSQL: set DATABASE_URL=postgres://user@host:port/any (server only).")
    recreate_database(url, args.database)
    os.environ["DATABASE_URL"] = server_url(url, args.database)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["LOG_LEVEL"] = "WARNING"
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connections

    from rewards.models import ActivityEvent, EventStatus
    from wallet.audit import run_audit

    call_command("migrate", verbosity=0)
    ids, hot_id, revenue_id = setup_ledger()
    secret = setup_members()
    connections.close_all()
    server = start_server(args.workers)
    rows = []
    try:
        for rnd in range(1, args.rounds + 1):
            ledger, *_ = run_scenario("a", rnd, ids, hot_id, revenue_id, args.seconds, 8)
            single, c1 = http_rate(secret, f"s{rnd}", args.seconds, args.clients, 1)
            batch, c2 = http_rate(secret, f"b{rnd}", args.seconds, args.clients, 500)
            imported = import_rate(f"i{rnd}", args.import_events)
            rows.append((ledger, single, batch, imported))
            print(
                f"round {rnd}: ledger (a) {ledger:7.1f} transfers/s | HTTP single {single:7.1f} ev/s "
                f"({single / ledger:.2f}x) {c1} | HTTP batch {batch:7.1f} ev/s ({batch / ledger:.2f}x) {c2} "
                f"| import_events {imported:7.1f} ev/s",
                flush=True,
            )
    finally:
        server.terminate()
        server.wait(timeout=30)
    not_applied = ActivityEvent.objects.exclude(status=EventStatus.APPLIED).count()
    audit = run_audit()
    print()
    print(f"{'':34}{'best':>10}{'spread (min..max)':>24}{'x ledger (best)':>18}")
    labels = [
        "ledger (a) spread, transfers/s",
        "HTTP single events/s",
        "HTTP batch (500) events/s",
        "import_events events/s",
    ]
    for idx, label in enumerate(labels):
        values = [r[idx] for r in rows]
        ratio = max(r[idx] / r[0] for r in rows)
        print(f"{label:34}{spread(values)}{ratio:16.2f}")
    print(f"events not applied: {not_applied}; ledger audit: {'clean' if audit.problem_count == 0 else 'FAILED'}")
    print(f"targets: HTTP >= 0.4x ledger; import_events >= 2,000 events/s. Machine: {os.cpu_count()} CPUs (shared).")
    connections.close_all()
    subprocess.run(
        ["psql", server_url(url, "postgres"), "-qc", f"DROP DATABASE IF EXISTS {args.database} WITH (FORCE)"],
        check=False,
    )


if __name__ == "__main__":
    main()
