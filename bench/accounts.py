"""Accounts benchmarks (run by hand): `.venv/bin/python bench/accounts.py`.

1. Sign-in throughput: POST /api/users/login with the right PIN, bcrypt cost 12. It is bound by
   bcrypt, so the ceiling is `cores / time of one bcrypt check`, measured here in the same run.
2. Token-authenticated POST /api/users/balance requests/s against a bare Django JSON view on the
   same gunicorn server (target: at least 0.7 of it).

Needs DATABASE_URL (PostgreSQL) and REDIS_URL; uses wrk (`apt-get install -y wrk`) on
127.0.0.1:$BENCH_PORT (default 8201), each load run bounded by $BENCH_SECONDS (default 10).

Fairness: both views run on the same gunicorn server (same workers, same settings and
middleware stack; sync workers close every connection, so neither gets keep-alive), driven by
the same wrk command. On a shared machine the load changes from one run to the next, so the
bare and balance runs alternate $BENCH_ROUNDS times (default 3) and each ratio compares a pair
measured back to back; the best ratio and the spread are reported. BENCH_LOGIN=0 skips sign-in.
A third view, the bare one plus a single trivial prepared query, shows what one database round
trip alone costs on the same server: the ceiling for any endpoint that reads the database.
"""

import json
import os
import re
import resource
import secrets
import shlex
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings_bench")
# gunicorn refuses the published development key outside DEBUG (config/wsgi.py).
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))

import django  # noqa: E402

django.setup()

from decimal import Decimal  # noqa: E402

from django.contrib.auth.hashers import check_password, make_password  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from accounts.models import User  # noqa: E402
from accounts.services import api_session_create  # noqa: E402
from wallet import services as wallet  # noqa: E402
from wallet.models import SystemAccount, TransferKind  # noqa: E402
from wallet.selectors import default_currency  # noqa: E402

PORT = int(os.environ.get("BENCH_PORT", "8201"))
SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
CORES = os.cpu_count() or 1
WORKERS = int(os.environ.get("BENCH_WORKERS", str(CORES)))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "3"))
LOGIN = os.environ.get("BENCH_LOGIN", "1") != "0"
EMAIL, PIN = "bench@example.com", "58203"
BASE = f"http://127.0.0.1:{PORT}"


def setup() -> str:
    call_command("migrate", verbosity=0)
    user = User.objects.filter(email=EMAIL).first() or User.objects.create_user(EMAIL, PIN)
    user.set_password(PIN)  # bcrypt cost 12 from PASSWORD_HASHERS
    user.pin_failures, user.locked_at = 0, None
    user.save()
    currency = default_currency()
    wallet.transfer_post(
        from_account=wallet.system_account(name=SystemAccount.ISSUANCE),
        to_account=wallet.user_account(user_id=user.pk),
        amount=currency.to_minor(Decimal("45.50")),
        kind=TransferKind.PURCHASE,
        idempotency_key="bench:funding",
    )
    return api_session_create(user=user, ip="127.0.0.1", user_agent="bench")[1]


def one_bcrypt_check() -> float:
    encoded = make_password(PIN)
    assert encoded.startswith("bcrypt_sha256$$2b$12$"), encoded
    times = []
    for _ in range(7):
        start = time.perf_counter()
        check_password(PIN, encoded)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _cpu_ticks(match: Callable[[int, str], bool]) -> int:
    """utime + stime (clock ticks) of every live process `match(pid, cmdline)` accepts."""
    total = 0
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{name}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            fields = Path(f"/proc/{name}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if match(int(name), cmdline):
            total += int(fields[11]) + int(fields[12])
    return total


def _machine_ticks() -> tuple[int, int]:
    """(busy, total) clock ticks of every CPU since boot (/proc/stat)."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


class CpuMeter:
    """CPU time per request by process group during one wrk run: the web server's processes
    (gunicorn's session), this database's PostgreSQL backends, wrk itself, and the rest of the
    machine (other helpers' load). Linux /proc only; a tick is 1/SC_CLK_TCK s."""

    def __init__(self, server_pid: int) -> None:
        self.server_sid = os.getsid(server_pid)
        self.db = str(connection.settings_dict["NAME"])
        self.tick = 1 / os.sysconf("SC_CLK_TCK")

    def _web(self, pid: int, cmdline: str) -> bool:
        try:
            return os.getsid(pid) == self.server_sid
        except OSError:
            return False

    def _pg(self, pid: int, cmdline: str) -> bool:
        return cmdline.startswith("postgres: ") and f" {self.db} " in cmdline

    def snapshot(self) -> tuple[int, int, float, int, int]:
        busy, total = _machine_ticks()
        wrk_cpu = resource.getrusage(resource.RUSAGE_CHILDREN)
        return _cpu_ticks(self._web), _cpu_ticks(self._pg), wrk_cpu.ru_utime + wrk_cpu.ru_stime, busy, total

    def per_request(self, before: tuple, after: tuple, requests: float) -> dict[str, float]:
        """Microseconds of CPU per request: web, postgres, wrk, other; and the machine's busy share."""
        web = (after[0] - before[0]) * self.tick
        pg = (after[1] - before[1]) * self.tick
        wrk_s = after[2] - before[2]
        busy = (after[3] - before[3]) * self.tick
        other = max(0.0, busy - web - pg - wrk_s)
        us = 1e6 / max(requests, 1)
        return {
            "web": web * us,
            "pg": pg * us,
            "wrk": wrk_s * us,
            "other": other * us,
            "busy": (after[3] - before[3]) / max(1, after[4] - before[4]),
        }


METER: CpuMeter | None = None


def cpu_text(cpu: dict[str, float]) -> str:
    return (
        f"CPU us/request: web {cpu['web']:.0f}, postgres {cpu['pg']:.0f}, wrk {cpu['wrk']:.0f}, "
        f"others on the machine {cpu['other']:.0f}; machine {cpu['busy']:.0%} busy"
    )


def wrk(path: str, body: dict, connections: int) -> tuple[float, dict[str, int]]:
    script = f"""
wrk.method = "POST"
wrk.body = '{json.dumps(body)}'
wrk.headers["Content-Type"] = "application/json"
statuses = {{}}
response = function(status, headers, body) statuses[status] = (statuses[status] or 0) + 1 end
done = function(summary, latency, requests)
  for s, n in pairs(statuses) do io.write(string.format("status %d %d\\n", s, n)) end
end
"""
    # `response` runs per thread; wrk's done() sees none of it, so count codes from the summary.
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script.replace("response = function", "local _r = function"))
        lua = f.name
    before = METER.snapshot() if METER else None
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{SECONDS}s", "--latency", "-s", lua, BASE + path],
        capture_output=True,
        text=True,
        check=True,
        timeout=SECONDS + 30,
    ).stdout
    after = METER.snapshot() if METER else None
    os.unlink(lua)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    result: dict[str, Any] = {"non_2xx": int(non2xx.group(1)) if non2xx else 0}
    if METER and before and after:
        result["cpu"] = METER.per_request(before, after, requests)
    return rps, result


def wait_for_server() -> None:
    for _ in range(100):
        try:
            urllib.request.urlopen(BASE + "/", timeout=1)  # noqa: S310
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not start")


def _bcrypt_worker(deadline: float) -> int:
    encoded = make_password(PIN)
    done = 0
    while time.monotonic() < deadline:
        check_password(PIN, encoded)
        done += 1
    return done


def bcrypt_parallel() -> float:
    """bcrypt checks/s with one process per core for SECONDS: the sign-in ceiling as this machine
    grants it right now (other processes on a shared machine take their part of the cores)."""
    import multiprocessing

    with multiprocessing.get_context("fork").Pool(CORES) as pool:
        start = time.monotonic()
        counts = pool.map(_bcrypt_worker, [start + SECONDS] * CORES)
        return sum(counts) / (time.monotonic() - start)


def server_command() -> list[str]:
    """What production runs (config/gunicorn.py), unless BENCH_GUNICORN_ARGS says otherwise."""
    command = [str(ROOT / ".venv/bin/gunicorn"), "config.wsgi:application", "--bind", f"127.0.0.1:{PORT}"]
    extra = os.environ.get("BENCH_GUNICORN_ARGS")
    command += shlex.split(extra) if extra is not None else ["--config", "config/gunicorn.py"]
    if "BENCH_WORKERS" in os.environ:
        command += ["--workers", str(WORKERS)]
    return [*command, "--env", "DJANGO_SETTINGS_MODULE=bench.settings_bench", "--log-level", "warning"]


def main() -> None:
    global METER
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install -y wrk")
    token = setup()
    command = server_command()
    server = subprocess.Popen(command, cwd=ROOT, start_new_session=True)
    logins = []
    try:
        wait_for_server()
        METER = CpuMeter(server.pid)
        # Warm every worker (imports, connections, prepared statements) before measuring.
        balance_body = json.dumps({"session_token": token}).encode()
        for _ in range(16):
            urllib.request.urlopen(BASE + "/bench/bare", data=b"{}", timeout=5).read()  # noqa: S310
            urllib.request.urlopen(BASE + "/api/users/balance", data=balance_body, timeout=5).read()  # noqa: S310
        for _ in range(ROUNDS if LOGIN else 0):
            check_s = one_bcrypt_check()
            login = wrk("/api/users/login", {"email": EMAIL, "pin": PIN}, connections=CORES * 2)
            logins.append((check_s, login, bcrypt_parallel()))
        pairs = []
        for _ in range(ROUNDS):
            bare = wrk("/bench/bare", {}, connections=CORES * 4)
            balance = wrk("/api/users/balance", {"session_token": token}, connections=CORES * 4)
            one_query = wrk("/bench/bare-db", {}, connections=CORES * 4)
            pairs.append((bare, balance, one_query))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

    print(f"cores={CORES} server: {shlex.join(command[1:])}")
    print(f"duration={SECONDS}s per run, load average at the end {os.getloadavg()}")
    ceilings, parallel = [], []
    for n, (check_s, (login_rps, login_codes), par_rps) in enumerate(logins, 1):
        ceiling = CORES / check_s
        ceilings.append(login_rps / ceiling)
        parallel.append(login_rps / par_rps)
        print(
            f"sign-in round {n}: {login_rps:.2f} req/s vs cores/check = {ceiling:.2f} req/s (one bcrypt-12 check "
            f"{check_s * 1000:.0f} ms, median of 7) -> {ceilings[-1]:.2f}; vs {CORES} processes checking bcrypt "
            f"just after, {par_rps:.2f}/s -> {parallel[-1]:.2f} (non-2xx: {login_codes['non_2xx']})"
        )
        if "cpu" in login_codes:
            print(f"    {cpu_text(login_codes['cpu'])}")
    ratios, floors = [], []
    for n, ((bare_rps, bare_codes), (balance_rps, balance_codes), (db_rps, db_codes)) in enumerate(pairs, 1):
        ratios.append(balance_rps / bare_rps)
        floors.append(db_rps / bare_rps)
        print(
            f"round {n}: balance (token) {balance_rps:.0f} req/s vs bare JSON view {bare_rps:.0f} req/s "
            f"-> {ratios[-1]:.2f} of it (non-2xx: {balance_codes['non_2xx']}, bare non-2xx: {bare_codes['non_2xx']}); "
            f"bare + one DB round trip {db_rps:.0f} req/s -> {floors[-1]:.2f} (non-2xx: {db_codes['non_2xx']})"
        )
        for label, codes in (("bare", bare_codes), ("balance", balance_codes), ("bare+db", db_codes)):
            if "cpu" in codes:
                print(f"    {label:8} {cpu_text(codes['cpu'])}")
    summaries = [("balance / bare", ratios), ("bare + one DB round trip / bare", floors)]
    if logins:
        summaries += [("sign-in / (cores / one check)", ceilings), ("sign-in / parallel bcrypt", parallel)]
    for label, values in summaries:
        print(f"{label}: best {max(values):.2f}, median {statistics.median(values):.2f}, worst {min(values):.2f}")


if __name__ == "__main__":
    main()
