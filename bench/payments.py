"""Payments figures, run by hand (needs DATABASE_URL on PostgreSQL; the DB is migrated and used):

    DATABASE_URL=postgres://…/gb_x .venv/bin/python bench/payments.py [--port 8310] [--n 200]

1. Provider calls per 1,000 open payments in one poll pass (counted with `responses`), against
   the reference of one get_tx_info call per payment.
2. IPN-to-credit latency through a real gunicorn on 127.0.0.1: POST a signed IPN, time until
   the buyer's balance shows the credit. Reference, same run: GET /api/credits/packages.
"""

import argparse
import json
import os
import secrets
import statistics
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
ENV = {
    "COINPAYMENTS_API_URL": "https://cp.bench/api.php",
    "COINPAYMENTS_PUBLIC_KEY": "pub",
    "COINPAYMENTS_PRIVATE_KEY": "priv",
    "COINPAYMENTS_MERCHANT_ID": "bench-merchant",
    "COINPAYMENTS_IPN_SECRET": "bench-secret",
    "PAYMENTS_DAILY_LIMIT_USD": "100000000",
    "PAYMENTS_MONTHLY_LIMIT_USD": "100000000",
    "DEBUG": "false",
    "LOG_LEVEL": "WARNING",
}
os.environ.update(ENV)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# gunicorn refuses the published development key outside DEBUG (config/wsgi.py).
os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(50))

import django  # noqa: E402

django.setup()

import requests  # noqa: E402
import responses  # noqa: E402
from django.core.management import call_command  # noqa: E402

from accounts.models import User  # noqa: E402
from payments import services  # noqa: E402
from payments.models import CreditPackage, Payment  # noqa: E402
from payments.providers.coinpayments import sign  # noqa: E402
from wallet.selectors import balance_for_user  # noqa: E402


def make_payments(n: int, tag: str) -> list[Payment]:
    user, _ = User.objects.get_or_create(email=f"bench-{tag}@example.com")
    quote = services.quote(package_id=CreditPackage.objects.get(name="Starter Pack").pk)
    made = []
    with responses.RequestsMock() as rsps:
        counter = iter(range(10**9))
        rsps.add_callback(
            responses.POST,
            ENV["COINPAYMENTS_API_URL"],
            callback=lambda r: (
                200,
                {},
                json.dumps(
                    {
                        "error": "ok",
                        "result": {
                            "amount": "25.00000000",
                            "txn_id": f"B{tag}-{next(counter)}",
                            "address": "a",
                            "confirms_needed": "1",
                            "timeout": 3600,
                        },
                    }
                ),
            ),
        )
        for _ in range(n):
            made.append(services.coinpayments_checkout(user=user, quote=quote, coin="USDT.TRC20"))
    return made


def poll_calls(n: int) -> None:
    Payment.objects.filter(status__in=["pending", "confirming", "underpaid"]).update(status="failed")
    make_payments(n, f"poll{int(time.time())}")
    with responses.RequestsMock() as rsps:
        rsps.add(responses.POST, ENV["COINPAYMENTS_API_URL"], json={"error": "ok", "result": {}})
        t0 = time.perf_counter()
        report = services.poll_payments()
        took = time.perf_counter() - t0
        calls = len(rsps.calls)
    print(f"poll pass over {n} open payments: {calls} provider calls ({report.provider_calls} counted by the poller),")
    print(f"  reference one-call-per-payment (get_tx_info): {n} calls; pass took {took:.2f}s")
    Payment.objects.filter(status="pending").update(status="failed")


def ipn_latency(n: int, port: int) -> None:
    payments = make_payments(n, f"ipn{int(time.time())}")
    env = {**os.environ, **ENV}
    server = subprocess.Popen(
        [
            str(ROOT / ".venv/bin/gunicorn"),
            "config.wsgi",
            "-b",
            f"127.0.0.1:{port}",
            "-w",
            "2",
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                requests.get(base + "/api/credits/packages", timeout=5)
                break
            except requests.RequestException:
                time.sleep(0.1)
        session = requests.Session()
        ref = []
        for _ in range(n):
            t0 = time.perf_counter()
            session.get(base + "/api/credits/packages", timeout=5).raise_for_status()
            ref.append(time.perf_counter() - t0)
        lat = []
        user_id = payments[0].user_id
        for p in payments:
            before = balance_for_user(user_id=user_id).balance
            body = urlencode(
                {
                    "ipn_version": "1.0",
                    "ipn_id": f"bench-{p.pk}",
                    "ipn_mode": "hmac",
                    "ipn_type": "api",
                    "merchant": ENV["COINPAYMENTS_MERCHANT_ID"],
                    "txn_id": p.reference,
                    "status": "100",
                    "currency1": "USD",
                    "amount1": str(p.usd_amount),
                    "invoice": str(p.pk),
                    "received_amount": p.coin_amount,
                    "received_confirms": "1",
                }
            ).encode()
            t0 = time.perf_counter()
            r = session.post(
                base + "/payments/coinpayments/ipn/",
                data=body,
                headers={
                    "HMAC": sign(ENV["COINPAYMENTS_IPN_SECRET"], body),
                    "Content-Type": "application/x-www-form-urlencoded",
                },
                timeout=10,
            )
            assert r.status_code == 200, r.text
            while balance_for_user(user_id=user_id).balance == before:
                time.sleep(0.001)
            lat.append(time.perf_counter() - t0)

        def q(xs: list[float], p: float) -> float:
            return sorted(xs)[min(len(xs) - 1, int(len(xs) * p))] * 1000

        print(
            f"IPN-to-credit over {n} IPNs (gunicorn, 2 workers): median {q(lat, 0.5):.1f} ms, p95 {q(lat, 0.95):.1f} ms"
        )
        print(f"  reference GET /api/credits/packages: median {q(ref, 0.5):.1f} ms, p95 {q(ref, 0.95):.1f} ms")
        print(f"  mean {statistics.mean(lat) * 1000:.1f} ms")
    finally:
        server.terminate()
        server.wait(timeout=10)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=8310)
    parser.add_argument("--n", type=int, default=200)
    args = parser.parse_args()
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        sys.exit("Set DATABASE_URL to a PostgreSQL database (it is migrated and written to).")
    call_command("migrate", verbosity=0)
    poll_calls(1000)
    ipn_latency(args.n, args.port)
