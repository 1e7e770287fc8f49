"""A real Celery worker against Redis watches a payment complete through the poller.

The worker is a separate process, so CoinPayments is a real local HTTP server here (the
worker cannot see `responses` mocks): it answers create_transaction and get_tx_info_multi.
"""

import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs

import pytest
from django.db import connection

from payments import services
from payments.models import Payment, PaymentStatus
from tests.celery_worker import start_worker, stop_worker, worker_env
from tests.factories import UserFactory, credit_package
from wallet.selectors import balance_for_user

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


class FakeCoinPayments(BaseHTTPRequestHandler):
    paid: set[str] = set()

    def do_POST(self) -> None:  # noqa: N802
        fields = {k: v[0] for k, v in parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode()).items()}
        if fields["cmd"] == "create_transaction":
            result = {
                "amount": "50.00000000",
                "txn_id": "WORKER-TX",
                "address": "addr",
                "confirms_needed": "1",
                "timeout": 600,
            }
        else:
            result = {
                txid: {
                    "error": "ok",
                    "status": 100 if txid in self.paid else 0,
                    "receivedf": "50.00000000" if txid in self.paid else "0",
                    "recv_confirms": 1,
                }
                for txid in fields["txid"].split("|")
            }
        data = json.dumps({"error": "ok", "result": result}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def provider(settings):
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeCoinPayments)  # a free port: runs may overlap
    threading.Thread(target=server.serve_forever, daemon=True).start()
    env = {
        "COINPAYMENTS_API_URL": f"http://127.0.0.1:{server.server_port}/api.php",
        "COINPAYMENTS_PUBLIC_KEY": "pub",
        "COINPAYMENTS_PRIVATE_KEY": "priv",
        "COINPAYMENTS_MERCHANT_ID": "m",
        "COINPAYMENTS_IPN_SECRET": "s",
    }
    for key, value in env.items():
        setattr(settings, key, value)
    yield env
    server.shutdown()
    server.server_close()


@pytest.mark.redis
def test_worker_completes_a_payment_through_the_poller(provider):
    redis_url = os.environ["REDIS_URL"]
    user = UserFactory()
    payment = services.coinpayments_checkout(
        user=user, quote=services.quote(package_id=credit_package().pk), coin="BTC"
    )
    FakeCoinPayments.paid.add(payment.reference)

    worker = start_worker(worker_env(**provider, REDIS_URL=redis_url), name="payments-test")
    try:
        from config.celery import app
        from payments.tasks import poll

        app.conf.task_always_eager = False
        poll.delay()
        deadline = time.monotonic() + 180  # a cold worker start on a loaded 2-core machine took over 60 s
        while time.monotonic() < deadline:
            payment.refresh_from_db()
            if payment.status == PaymentStatus.COMPLETED or worker.poll() is not None:
                break
            time.sleep(0.5)
        assert payment.status == PaymentStatus.COMPLETED, stop_worker(worker) or "timed out"
        assert balance_for_user(user_id=user.pk).balance == 7500
        assert Payment.objects.get(pk=payment.pk).completed_at is not None
    finally:
        stop_worker(worker)
        connection.close()
