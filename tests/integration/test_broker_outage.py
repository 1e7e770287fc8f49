"""Pulling the broker's plug (issue 9): with Redis down, a purchase completed by IPN, a download
job started and a sign-up through a referral link all commit and answer as usual; when Redis
returns, their follow-up work (the credit receipt, the job's run, the referral payout) happens,
exactly once, even when the same events are delivered again.

Real pieces: a private redis-server on a free port (stopped, then started), a real Celery worker
process on the test database, the outbox sweep it runs. The rest of the suite's Redis is untouched.
"""

import os
import shutil
import socket
import subprocess
import time
from decimal import Decimal
from pathlib import Path

import pytest
import responses

from core.models import OutboxDelivery, OutboxEvent
from downloads.models import DownloadJob, JobStatus
from payments.models import Payment, PaymentStatus
from rewards import services as rewards
from rewards.models import Referral, ReferralStatus
from tests.celery_worker import start_worker, stop_worker, worker_env
from tests.factories import make_songs
from tests.payments.conftest import API_URL, IPN_SECRET, MERCHANT, PRIVATE_KEY, ipn_body, make_payment, post_ipn
from wallet.selectors import balance_for_user

REDIS_SERVER = shutil.which("redis-server")
WAIT_SECONDS = int(os.environ.get("OUTAGE_WAIT", "180"))  # a cold worker on a loaded 2-core machine

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(REDIS_SERVER is None and os.environ.get("CI") != "true", reason="needs redis-server"),
]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PrivateRedis:
    def __init__(self, tmp: Path) -> None:
        self.port, self.dir, self.proc = _free_port(), tmp, None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        assert REDIS_SERVER, "redis-server is not installed"
        cmd = [REDIS_SERVER, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen([*cmd, "--dir", str(self.dir)], stdout=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError("private redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None


@pytest.fixture
def broker(tmp_path):
    """The Celery app's broker pointed at a private Redis that is down until `start()`."""
    from config.celery import app

    redis = PrivateRedis(tmp_path)
    saved = app.conf.broker_url, app.conf.task_always_eager

    def use(url: str) -> None:
        app.conf.broker_url = url
        app._pool = None  # connections made for the suite's broker are not this one
        app.amqp._producer_pool = None

    use(redis.url)
    app.conf.task_always_eager = False
    yield redis
    app.conf.broker_url, app.conf.task_always_eager = saved
    use(saved[0])
    redis.stop()


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def worker_setup(settings, tmp_path):
    media, mail = tmp_path / "media", tmp_path / "mail"
    media.mkdir()
    mail.mkdir()
    settings.MEDIA_ROOT = media
    env = {
        "COINPAYMENTS_API_URL": API_URL,
        "COINPAYMENTS_PUBLIC_KEY": "public-key",
        "COINPAYMENTS_PRIVATE_KEY": PRIVATE_KEY,
        "COINPAYMENTS_MERCHANT_ID": MERCHANT,
        "COINPAYMENTS_IPN_SECRET": IPN_SECRET,
    }
    for key, value in env.items():
        setattr(settings, key, value)
    return worker_env(**env, MEDIA_ROOT=str(media), EMAIL_URL=f"filemail:///{mail}"), mail  # environ drops a "/"


def _receipts(mail: Path) -> int:
    return sum(f.read_text().count("receipt for payment") for f in mail.glob("*.log"))


def test_follow_up_work_waits_out_a_broker_outage_and_happens_once(client, broker, worker_setup, rsps):
    env, mail = worker_setup
    referrer_client = client
    from tests.factories import UserFactory

    referrer = UserFactory()
    code = rewards.profile_ensure(user_id=referrer.pk).referral_code
    make_songs(3)

    # --- Redis is down: every request still commits and answers as it always does ----------------
    referrer_client.get(f"/r/{code}")
    signup = client.post("/accounts/signup/", {"email": "friend@example.com", "password1": "58203"})
    assert signup.status_code == 302
    from accounts.models import User

    friend = User.objects.get(email="friend@example.com")

    payment = make_payment(rsps, friend)
    assert post_ipn(client, ipn_body(payment)).status_code == 200
    assert Payment.objects.get(pk=payment.pk).status == PaymentStatus.COMPLETED
    assert balance_for_user(user_id=friend.pk).balance_decimal == Decimal("75.00")

    from accounts.services import api_session_create

    _, token = api_session_create(user=friend, ip=None, user_agent="t")
    started = client.post(
        "/api/start-download",
        {"requested_songs": 3},
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert started.status_code == 202, started.content
    job = DownloadJob.objects.get(public_id=started.json()["job_id"])
    assert job.status == JobStatus.QUEUED and job.hold_id is not None

    # Nothing that needs the broker has happened yet, and nothing is lost: it waits in the outbox.
    assert not Referral.objects.filter(referred=friend).exists()
    assert OutboxEvent.objects.filter(delivered_at__isnull=True).count() >= 3
    assert _receipts(mail) == 0

    # --- Redis returns; a worker and the beat sweep catch up -------------------------------------
    broker.start()
    worker = start_worker({**env, "REDIS_URL": broker.url}, name="outage")
    try:
        from core.tasks import outbox_sweep

        outbox_sweep.delay()
        deadline = time.monotonic() + WAIT_SECONDS
        while time.monotonic() < deadline and worker.poll() is None:
            job.refresh_from_db()
            referral = Referral.objects.filter(referred=friend).first()
            paid = referral is not None and referral.status == ReferralStatus.PAID
            if job.status == JobStatus.COMPLETED and paid and _receipts(mail) == 1:
                break
            time.sleep(0.5)
        else:
            output = stop_worker(worker)
            events = list(OutboxEvent.objects.values_list("name", "delivered_at", "attempts", "last_error"))
            pytest.fail(f"follow-up work not done: job {job.status}, receipts {_receipts(mail)}, {events}\n{output}")

        # The same events delivered again (a duplicate kick, a second sweep) change nothing.
        from core.tasks import outbox_deliver

        for event_id in OutboxEvent.objects.values_list("id", flat=True):
            outbox_deliver.delay(event_id)
        outbox_sweep.delay()
        time.sleep(3)
        outbox_sweep.delay()
        deadline = time.monotonic() + WAIT_SECONDS
        while OutboxEvent.objects.filter(delivered_at__isnull=True).exists() and time.monotonic() < deadline:
            time.sleep(0.5)
    finally:
        stop_worker(worker)

    assert not OutboxEvent.objects.filter(delivered_at__isnull=True).exists()
    handlers = list(OutboxDelivery.objects.values_list("event_id", "handler"))
    assert len(handlers) == len(set(handlers))
    assert _receipts(mail) == 1
    assert Referral.objects.get(referred=friend).status == ReferralStatus.PAID
    assert balance_for_user(user_id=referrer.pk).balance_decimal == Decimal("10.00")  # paid once
    job.refresh_from_db()
    assert job.status == JobStatus.COMPLETED
    assert balance_for_user(user_id=friend.pk).balance_decimal == Decimal("75.00") - Decimal("1.05")  # charged once
