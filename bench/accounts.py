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
import secrets
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

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
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{SECONDS}s", "--latency", "-s", lua, BASE + path],
        capture_output=True,
        text=True,
        check=True,
        timeout=SECONDS + 30,
    ).stdout
    os.unlink(lua)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return rps, {"non_2xx": int(non2xx.group(1)) if non2xx else 0}


def wait_for_server() -> None:
    for _ in range(100):
        try:
            urllib.request.urlopen(BASE + "/", timeout=1)  # noqa: S310
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("gunicorn did not start")


def main() -> None:
    if not shutil.which("wrk"):
        raise SystemExit("wrk is needed: apt-get install -y wrk")
    token = setup()
    bcrypt_s = one_bcrypt_check() if LOGIN else 0.0
    server = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "config.wsgi:application",
            "--bind",
            f"127.0.0.1:{PORT}",
            "--workers",
            str(WORKERS),
            "--env",
            "DJANGO_SETTINGS_MODULE=bench.settings_bench",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        start_new_session=True,
    )
    try:
        wait_for_server()
        # Warm every worker (imports, connections, prepared statements) before measuring.
        balance_body = json.dumps({"session_token": token}).encode()
        for _ in range(WORKERS * 4):
            urllib.request.urlopen(BASE + "/bench/bare", data=b"{}", timeout=5).read()  # noqa: S310
            urllib.request.urlopen(BASE + "/api/users/balance", data=balance_body, timeout=5).read()  # noqa: S310
        login_rps, login_codes = (
            wrk("/api/users/login", {"email": EMAIL, "pin": PIN}, connections=WORKERS * 2) if LOGIN else (0.0, {})
        )
        pairs = []
        for _ in range(ROUNDS):
            bare = wrk("/bench/bare", {}, connections=WORKERS * 4)
            balance = wrk("/api/users/balance", {"session_token": token}, connections=WORKERS * 4)
            one_query = wrk("/bench/bare-db", {}, connections=WORKERS * 4)
            pairs.append((bare, balance, one_query))
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=30)

    print(f"cores={CORES} gunicorn sync workers={WORKERS} duration={SECONDS}s per run, load {os.getloadavg()}")
    if LOGIN:
        ceiling = CORES / bcrypt_s
        print(f"one bcrypt check (cost 12, median of 7): {bcrypt_s * 1000:.1f} ms")
        print(
            f"sign-in: {login_rps:.2f} req/s vs ceiling cores/check = {ceiling:.2f} req/s "
            f"-> {login_rps / ceiling:.2f} of it (non-2xx: {login_codes['non_2xx']})"
        )
    ratios, floors = [], []
    for n, ((bare_rps, bare_codes), (balance_rps, balance_codes), (db_rps, db_codes)) in enumerate(pairs, 1):
        ratios.append(balance_rps / bare_rps)
        floors.append(db_rps / bare_rps)
        print(
            f"round {n}: balance (token) {balance_rps:.0f} req/s vs bare JSON view {bare_rps:.0f} req/s "
            f"-> {ratios[-1]:.2f} of it (non-2xx: {balance_codes['non_2xx']}, bare non-2xx: {bare_codes['non_2xx']}); "
            f"bare + one DB round trip {db_rps:.0f} req/s -> {floors[-1]:.2f} (non-2xx: {db_codes['non_2xx']})"
        )
    for label, values in (("balance / bare", ratios), ("bare + one DB round trip / bare", floors)):
        print(f"{label}: best {max(values):.2f}, median {statistics.median(values):.2f}, worst {min(values):.2f}")


if __name__ == "__main__":
    main()
