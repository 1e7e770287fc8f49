"""Live balances in a second open tab, on the ASGI server as `make run` serves it (issue 12).

pytest-django's live_server is WSGI (no WebSockets), so this test starts the real thing: daphne
serving `config.asgi` in its own process on the embedded default (SQLite file, no Redis: the
in-memory channel layer, Celery in-process), migrated and seeded like `make run`. The balance is
then changed the way production changes it, over HTTP into that process: a signed CoinPayments
IPN, a signed forum event that pays an award, and a staff member approving an adjustment in the
admin. The member's second tab must show each new balance without reloading.
"""

import hashlib
import hmac
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlencode

import pytest

from tests.browser.conftest import sign_in

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
IPN_SECRET = "ipn-secret-live-test"
MERCHANT = "merchant-live-test"
FORUM_SECRET = "forum-secret-live-test"
MEMBER, MEMBER_PIN = "demo@goldbook.local", "2580"
CHECKER, CHECKER_PIN = "checker@goldbook.local", "246813"
WAIT_MS = 15_000

SETUP = f"""
import json
from decimal import Decimal
from accounts.models import User
from payments import services as payments
from payments.services.quotes import payment_create
from payments.models import Provider
from rewards.models import Integration
from wallet import services as wallet

member = User.objects.get(email={MEMBER!r})
admin = User.objects.get(email="admin@goldbook.local")
Integration.objects.get_or_create(name="forum", defaults={{"secret": {FORUM_SECRET!r}}})
quote = payments.quote(custom_amount_usd=Decimal("10"))
payment = payment_create(
    user=member, quote=quote, provider=Provider.COINPAYMENTS, reference="CPTX-LIVE-1", coin="USDT.TRC20",
    coin_amount="10.00000000", address="TLiveTestAddress", expires_at=None,
)
req = wallet.adjustment_request(
    account=wallet.user_account(user_id=member.pk), amount=-300, reason="Duplicate welcome bonus",
    requested_by_id=admin.pk,
)
print(json.dumps({{"payment": payment.pk, "usd": str(payment.usd_amount), "request": req.pk}}))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _site_env(db: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DJANGO_ALLOW_ASYNC_UNSAFE")}
    env.update(
        DATABASE_URL=f"sqlite:///{db}",
        DEBUG="true",
        DJANGO_SETTINGS_MODULE="config.settings",
        COINPAYMENTS_MERCHANT_ID=MERCHANT,
        COINPAYMENTS_IPN_SECRET=IPN_SECRET,
        COINPAYMENTS_PUBLIC_KEY="public-key-live-test",
        COINPAYMENTS_PRIVATE_KEY="private-key-live-test",
    )
    return env


def _manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=180
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.fixture
def asgi_site(migrated_sqlite_file: Path) -> Iterator[dict[str, object]]:
    """daphne on a free port of 127.0.0.1 over a fresh, seeded SQLite file; stopped afterwards."""
    with tempfile.TemporaryDirectory() as tmp:
        env = _site_env(Path(tmp) / "db.sqlite3")
        shutil.copyfile(migrated_sqlite_file, Path(tmp) / "db.sqlite3")  # `make run`'s migrate, done once per run
        _manage(env, "seed_demo")
        ids = json.loads(_manage(env, "shell", "-c", SETUP).strip().splitlines()[-1])
        port = _free_port()
        log = open(Path(tmp) / "daphne.log", "w")  # noqa: SIM115
        server = subprocess.Popen(
            [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "config.asgi:application"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    urllib.request.urlopen(url + "/", timeout=2).close()  # noqa: S310
                    break
                except OSError:
                    if server.poll() is not None or time.monotonic() > deadline:
                        log.flush()
                        pytest.fail("daphne did not start: " + (Path(tmp) / "daphne.log").read_text()[-3000:])
                    time.sleep(0.3)
            yield {"url": url, **ids}
        finally:
            server.terminate()
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                server.kill()
            log.close()


def _post(url: str, body: bytes, headers: dict[str, str]) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310
    with urllib.request.urlopen(request, timeout=20) as response:  # noqa: S310
        return int(response.status)


def _ipn(site: dict[str, object]) -> int:
    body = urlencode(
        {
            "ipn_version": "1.0",
            "ipn_id": "ipn-live-1",
            "ipn_mode": "hmac",
            "ipn_type": "api",
            "merchant": MERCHANT,
            "txn_id": "CPTX-LIVE-1",
            "status": "100",
            "status_text": "Complete",
            "currency1": "USD",
            "currency2": "USDT.TRC20",
            "amount1": str(site["usd"]),
            "amount2": "10.00000000",
            "fee": "0.05",
            "invoice": str(site["payment"]),
            "received_amount": "10.00000000",
            "received_confirms": "10",
        }
    ).encode()
    signature = hmac.new(IPN_SECRET.encode(), body, hashlib.sha512).hexdigest()
    headers = {"Content-Type": "application/x-www-form-urlencoded", "HMAC": signature}
    return _post(f"{site['url']}/payments/coinpayments/ipn/", body, headers)


def _forum_award(site: dict[str, object]) -> int:
    raw = json.dumps(
        {
            "event_id": "live-accepted-1",
            "type": "answer.accepted",
            "occurred_at": "2026-01-02T03:04:05Z",
            "user": {"email": MEMBER},
            "object": {"type": "answer", "id": 4242},
            "data": {},
        }
    ).encode()
    stamp = str(int(time.time()))
    digest = hmac.new(FORUM_SECRET.encode(), stamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
    headers = {
        "Content-Type": "application/json",
        "X-Goldbook-Integration": "forum",
        "X-Goldbook-Signature": "sha256=" + digest,
        "X-Goldbook-Timestamp": stamp,
    }
    return _post(f"{site['url']}/api/rewards/events", raw, headers)


def _state(page: object) -> dict:
    return page.request.get("/live/state.json").json()  # type: ignore[attr-defined]


def _balance(page: object) -> Decimal:
    return Decimal(_state(page)["balance"]["available"])


def test_a_second_tab_follows_ipn_award_and_adjustment_without_reload(browser, asgi_site, shot):
    from playwright.sync_api import expect

    site = asgi_site
    member = browser.new_context(base_url=site["url"], viewport={"width": 1280, "height": 900})
    member.set_default_timeout(WAIT_MS)
    first = member.new_page()
    sign_in(first, MEMBER, MEMBER_PIN, next_path="/dashboard/")
    second = member.new_page()
    second.goto("/downloads/")
    expect(second.locator("html")).to_have_attribute("data-live-socket", "open")
    second.evaluate("window.__sameDocument = true")
    header = second.locator('[data-live="balance"]')
    bell = second.locator('[data-live="unread"]')
    start, unread = _balance(second), int(_state(second)["unread"])
    expect(header).to_have_text(f"{start:.2f}")

    assert _ipn(site) == 200  # the purchase and its bonus
    after_ipn = _balance(second)
    assert after_ipn > start
    expect(header).to_have_text(f"{after_ipn:.2f}")
    expect(bell).to_have_text(str(unread + 1))

    assert _forum_award(site) in (200, 202)  # "Accepted answer" pays 20.00
    expect(header).to_have_text(f"{after_ipn + Decimal('20.00'):.2f}")
    expect(bell).to_have_text(str(unread + 2))

    checker = browser.new_context(base_url=site["url"])
    checker.set_default_timeout(WAIT_MS)
    staff = checker.new_page()
    sign_in(staff, CHECKER, CHECKER_PIN)
    staff.goto("/admin/wallet/adjustmentrequest/")
    staff.locator(f'input[name="_selected_action"][value="{site["request"]}"]').check()
    staff.locator('select[name="action"]').select_option("approve")
    staff.locator('button[name="index"]').click()
    staff.wait_for_load_state()
    expect(header).to_have_text(f"{after_ipn + Decimal('20.00') - Decimal('3.00'):.2f}")
    expect(bell).to_have_text(str(unread + 3))

    assert second.evaluate("window.__sameDocument === true")  # updated in place, never reloaded
    expect(first.locator('[data-live="balance"]')).to_have_text(f"{after_ipn + Decimal('17.00'):.2f}")
    # The dashboard in the first tab: its figures and history follow too.
    expect(first.get_by_test_id("stat-available")).to_contain_text(f"{after_ipn + Decimal('17.00'):.2f}")
    expect(first.get_by_test_id("history")).to_contain_text("Duplicate welcome bonus")
    shot(second, "live-second-tab")
    second.goto("/notifications/")
    expect(second.get_by_test_id("notification")).to_have_count(unread + 3)
    shot(second, "live-notifications")
    checker.close()
    member.close()
