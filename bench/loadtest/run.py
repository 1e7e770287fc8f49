#!/usr/bin/env python
"""`make loadtest`: the seeds' member mix under Locust against a site this script starts on
127.0.0.1, bounded in time, then the ledger audit (issue 14).

    make loadtest                                   # 20 members, 60 s
    LOADTEST_USERS=100 LOADTEST_SECONDS=60 make loadtest

What it needs: the venv (locust is in requirements-dev.txt). For figures that mean something,
DATABASE_URL (PostgreSQL) and REDIS_URL: the site then runs as in production, on gunicorn with
config/gunicorn.py and LOADTEST_WORKERS (2) processes, plus one Celery worker for the download
jobs and the outbox.
Without them it runs on the embedded default (SQLite, tasks in-process), which is only a smoke
test. The site runs with DEBUG off, as in production, and the demo payment method switched on by
PAYMENTS_DEMO_METHOD (config.settings_production never allows it); it uses whatever database
DATABASE_URL names, adding load-test members to it (never run it against a live
site's database: prepare.py refuses nothing, and the script only ever talks to 127.0.0.1).

Steps: prepare.py (migrate, demo data, members with credits, tokens and web sessions, an
integration secret), the site, `locust --headless`, a table of requests/s and p50/p95/p99 per
endpoint with failures split into 5xx / connection errors / unexpected 4xx, then
`manage.py audit_ledger`. Exit status 1 when the audit finds a problem or any request got a 5xx or
no answer at all.
"""

import csv
import os
import resource
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin"
HOST = os.environ.get("LOADTEST_HOST", "127.0.0.1")
PORT = int(os.environ.get("LOADTEST_PORT", "8765"))
USERS = int(os.environ.get("LOADTEST_USERS", "20"))
SECONDS = int(os.environ.get("LOADTEST_SECONDS", "60"))
WORKERS = int(os.environ.get("LOADTEST_WORKERS", "2"))
MAX_SECONDS = 600  # bounded: a shared machine


def refuse_unsafe() -> None:
    if HOST != "127.0.0.1":
        sys.exit(f"LOADTEST_HOST={HOST!r}: the load test runs against 127.0.0.1 only.")
    if not 0 < SECONDS <= MAX_SECONDS or not 0 < USERS <= 1000:
        sys.exit(f"LOADTEST_SECONDS must be 1..{MAX_SECONDS} and LOADTEST_USERS 1..1000.")


def site_env() -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        # Measured as production runs (no DEBUG query log, core.db's fast cursor), with the demo
        # payment method switched on by its own setting for the purchases.
        "DEBUG": "false",
        "PAYMENTS_DEMO_METHOD": "true",
        "SECRET_KEY": os.environ.get("SECRET_KEY") or secrets.token_urlsafe(50),
        "ALLOWED_HOSTS": "127.0.0.1",
        "SITE_URL": f"http://{HOST}:{PORT}",
        "LOG_LEVEL": "WARNING",
        "CONN_MAX_AGE": os.environ.get("CONN_MAX_AGE", "60"),
    }


def start_site(env: dict[str, str], log: Path) -> list[subprocess.Popen]:
    out = log.open("w")
    # Production's server settings (config/gunicorn.py: gthread), with this run's address and workers.
    server = [
        str(BIN / "gunicorn"),
        "-c",
        "config/gunicorn.py",
        "config.wsgi",
        "-b",
        f"{HOST}:{PORT}",
        "-w",
        str(WORKERS),
    ]
    procs = [subprocess.Popen([*server, "--log-level", "warning"], cwd=ROOT, env=env, stdout=out, stderr=out)]
    if env.get("REDIS_URL"):
        worker = [str(BIN / "celery"), "-A", "config", "worker", "-l", "warning", "--concurrency", "1"]
        procs.append(subprocess.Popen(worker, cwd=ROOT, env=env, stdout=out, stderr=out))
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://{HOST}:{PORT}/api/credits/packages", timeout=2).read()  # noqa: S310
            return procs
        except OSError:
            time.sleep(0.3)
    stop(procs)
    sys.exit(f"The site did not start on {HOST}:{PORT}; see {log}")


def stop(procs: list[subprocess.Popen]) -> None:
    for proc in procs:
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def _ticks(pids: set[int]) -> int:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total


def _tree(roots: list[int]) -> set[int]:
    """The roots and every descendant (gunicorn's workers, Celery's pool), from /proc."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                ppid = int(Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(ppid, []).append(int(name))
    found, todo = set(), list(roots)
    while todo:
        pid = todo.pop()
        found.add(pid)
        todo += children.get(pid, [])
    return found


def _pg_backends(database: str) -> set[int]:
    found = set()
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                cmdline = Path(f"/proc/{name}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if cmdline.startswith("postgres: ") and f" {database} " in cmdline:
                found.add(int(name))
    return found


class CpuShare:
    """CPU seconds the site (gunicorn and Celery, with their children), this database's PostgreSQL
    backends and Locust spent during the run, and how busy the whole machine was: on a shared
    machine req/s alone says little, CPU per request says what a free machine would give.
    Linux /proc only (nothing is printed elsewhere); backends that close during the run are missed."""

    def __init__(self, procs: list[subprocess.Popen], database: str) -> None:
        self.enabled = Path("/proc/stat").exists()
        self.roots = [p.pid for p in procs]
        self.database = database

    def _machine(self) -> tuple[int, int]:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        return sum(values) - values[3] - values[4], sum(values)

    def snapshot(self) -> dict[str, float]:
        if not self.enabled:
            return {}
        own = resource.getrusage(resource.RUSAGE_CHILDREN)
        busy, total = self._machine()
        return {
            "web": _ticks(_tree(self.roots[:1])),
            "celery": _ticks(_tree(self.roots[1:])),
            "pg": _ticks(_pg_backends(self.database)),
            "locust": (own.ru_utime + own.ru_stime) * os.sysconf("SC_CLK_TCK"),
            "busy": busy,
            "total": total,
        }

    def report(self, before: dict[str, float], after: dict[str, float], requests: int) -> None:
        if not before or not after or not requests:
            return
        tick_ms = 1000 / os.sysconf("SC_CLK_TCK")
        web, celery, pg, locust = (
            (after[k] - before[k]) * tick_ms / requests for k in ("web", "celery", "pg", "locust")
        )
        ours = web + celery + pg + locust
        busy = (after["busy"] - before["busy"]) * tick_ms / requests
        share = (after["busy"] - before["busy"]) / max(1, after["total"] - before["total"])
        cores = os.cpu_count() or 1
        print(
            f"CPU per request: gunicorn {web:.1f} ms, Celery {celery:.1f} ms, PostgreSQL {pg:.1f} ms, "
            f"Locust {locust:.1f} ms "
            f"= {ours:.1f} ms -> at most {cores * 1000 / ours:.0f} req/s if these had all {cores} cores; "
            f"the machine was {share:.0%} busy, {max(0.0, busy - ours) / busy:.0%} of it other processes"
        )


def report(prefix: str) -> tuple[int, int, int]:
    """Print the per-endpoint table; return (5xx, connection errors, unexpected 4xx)."""
    with open(f"{prefix}_stats.csv") as f:
        rows = list(csv.DictReader(f))
    print(f"\n{'endpoint':46}{'requests':>9}{'fail':>6}{'req/s':>8}{'p50 ms':>8}{'p95 ms':>8}{'p99 ms':>8}")
    for row in rows:
        name = row["Name"] if row["Name"] == "Aggregated" else f"{row['Type']} {row['Name']}"
        print(
            f"{name[:45]:46}{row['Request Count']:>9}{row['Failure Count']:>6}{float(row['Requests/s']):8.1f}"
            f"{row['50%']:>8}{row['95%']:>8}{row['99%']:>8}"
        )
    counts = {"5xx": 0, "connection": 0, "unexpected": 0}
    with open(f"{prefix}_failures.csv") as f:
        for row in csv.DictReader(f):
            kind = next((k for k in counts if row["Error"].startswith(k)), "unexpected")
            counts[kind] += int(row["Occurrences"])
            print(f"  failure x{row['Occurrences']}: {row['Method']} {row['Name']}: {row['Error'][:150]}")
    print(f"5xx: {counts['5xx']}  connection errors: {counts['connection']}  unexpected 4xx: {counts['unexpected']}")
    return counts["5xx"], counts["connection"], counts["unexpected"]


def main() -> None:
    refuse_unsafe()
    env = site_env()
    work = Path(tempfile.mkdtemp(prefix="goldbook-loadtest-"))
    data = work / "members.json"
    engine = "PostgreSQL" if env.get("DATABASE_URL", "").startswith("postgres") else "SQLite (smoke test only)"
    print(
        f"Load test: {USERS} members for {SECONDS}s against {HOST}:{PORT}; {engine}; gunicorn -c config/gunicorn.py -w {WORKERS}; "
        f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} (a shared machine: figures vary)"
    )
    subprocess.run(
        [str(BIN / "python"), "bench/loadtest/prepare.py", "--members", str(USERS), "--out", str(data)],
        cwd=ROOT,
        env={**env, "DEBUG": "true"},  # seed_demo (published PINs) runs only with DEBUG on
        check=True,
    )
    procs = start_site(env, work / "site.log")
    database = env.get("DATABASE_URL", "").rsplit("/", 1)[-1].split("?")[0]
    meter = CpuShare(procs, database)
    before = after = {}
    try:
        before = meter.snapshot()
        subprocess.run(
            [str(BIN / "locust"), "-f", "bench/loadtest/locustfile.py", "--headless", "--only-summary",
             "-u", str(USERS), "-r", str(max(1, USERS // 5)), "-t", f"{SECONDS}s", "--stop-timeout", "10",
             "--host", f"http://{HOST}:{PORT}", "--csv", str(work / "run"), "--loglevel", "WARNING"],
            cwd=ROOT, env={**env, "LOADTEST_DATA": str(data)}, timeout=SECONDS + 120, check=False,
            stdout=subprocess.DEVNULL,
        )  # fmt: skip
        after = meter.snapshot()
    finally:
        stop(procs)
    errors_5xx, connection, _unexpected = report(str(work / "run"))
    with open(work / "run_stats.csv") as f:
        requests = sum(int(row["Request Count"]) for row in csv.DictReader(f) if row["Name"] != "Aggregated")
    meter.report(before, after, requests)
    print(f"(site log: {work / 'site.log'})\nAuditing the ledger…")
    audit = subprocess.run([str(BIN / "python"), "manage.py", "audit_ledger"], cwd=ROOT, env=env, check=False)
    failed = audit.returncode != 0 or errors_5xx or connection
    print("load test FAILED" if failed else "load test passed: no 5xx, no connection error, audit clean")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
