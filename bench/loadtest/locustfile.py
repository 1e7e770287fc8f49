"""The member mix of the seeds as a Locust load test (issue 14). Run through `make loadtest`
(bench/loadtest/run.py starts the site, prepares the members, runs this headless, audits the ledger).

Each simulated member has its own account, API token and web session (bench/loadtest/prepare.py,
read from LOADTEST_DATA). Weights, per 102 tasks:

    50 balance checks            POST /api/users/balance        (seed 002)
    15 history                   POST /api/users/transactions   (seed 002)
    10 download jobs             POST /api/start-download, then GET /api/download-jobs/<id> (seed 002)
     5 redemptions               POST /api/rewards/redeem       (seed 001)
    15 signed forum events       POST /api/rewards/events       (seed 001; the forum signs them)
     5 leaderboard reads         GET  /api/rewards/leaderboard  (seed 001, with the member's rank)
     2 purchases, demo method    GET /recharge/, POST /recharge/checkout/, POST /payments/<id>/demo-pay/

A member's refusals the API documents (402 short of credits, 409 nothing left to download) count
as answers; any other 4xx is a failure ("unexpected 4xx"), any 5xx a failure named "5xx", a
connection error a failure of its own. bench/loadtest/run.py fails on any 5xx or connection error.
"""

import hashlib
import hmac
import itertools
import json
import os
import random
import re
import time
import uuid
from pathlib import Path

from locust import HttpUser, between, events, task

DATA = json.loads(Path(os.environ["LOADTEST_DATA"]).read_text())
_members = itertools.cycle(DATA["members"])
_counter = itertools.count()
WAIT_MIN = float(os.environ.get("LOADTEST_WAIT_MIN", "0.5"))
WAIT_MAX = float(os.environ.get("LOADTEST_WAIT_MAX", "1.5"))
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
PAYMENT_URL = re.compile(r"/payments/(\d+)/$")


@events.test_start.add_listener
def _refuse_other_hosts(environment, **_kwargs):  # noqa: ANN001
    host = environment.host or ""
    if not re.fullmatch(r"http://127\.0\.0\.1(:\d+)?/?", host):
        raise SystemExit(f"The load test runs against http://127.0.0.1 only, not {host!r}.")


def _judge(response, ok: tuple[int, ...]) -> None:  # noqa: ANN001
    """Mark the answer: success for the codes this request may answer, else a named failure."""
    code = response.status_code
    if code in ok:
        response.success()
    elif code == 0:
        response.failure(f"connection error: {response.error}")
    elif code >= 500:
        response.failure(f"5xx {code}")
    else:
        response.failure(f"unexpected {code}: {response.text[:120]}")


class Member(HttpUser):
    wait_time = between(WAIT_MIN, WAIT_MAX)

    def on_start(self) -> None:
        me = next(_members)
        self.email, self.token = me["email"], me["token"]
        self.auth = {"Authorization": f"Bearer {self.token}"}
        self.sessionid = me["sessionid"]

    def _post(self, path: str, body: dict, ok: tuple[int, ...], **kw):  # noqa: ANN003
        with self.client.post(path, json=body, headers=kw.pop("headers", self.auth), catch_response=True, **kw) as r:
            _judge(r, ok)
            return r

    @task(50)
    def balance(self) -> None:
        self._post("/api/users/balance", {"session_token": self.token}, (200,))

    @task(15)
    def history(self) -> None:
        self._post("/api/users/transactions", {"limit": 20}, (200,))

    @task(10)
    def download(self) -> None:
        key = {**self.auth, "Idempotency-Key": uuid.uuid4().hex}
        r = self._post("/api/start-download", {"requested_songs": random.randint(1, 5)}, (202, 402, 409), headers=key)
        if r.status_code == 202:
            job = r.json()["job_id"]
            with self.client.get(
                f"/api/download-jobs/{job}", headers=self.auth, name="/api/download-jobs/[id]", catch_response=True
            ) as status:
                _judge(status, (200,))

    @task(5)
    def redeem(self) -> None:
        body = {"reward_id": DATA["reward_id"], "idempotency_key": uuid.uuid4().hex}
        self._post("/api/rewards/redeem", body, (201, 402))

    @task(15)
    def forum_event(self) -> None:
        n = next(_counter)
        kind = random.choice(("post.upvoted", "answer.accepted"))
        upvote = kind == "post.upvoted"
        event = {
            "event_id": f"loadtest-{DATA['run']}-{os.getpid()}-{n}",
            "type": kind,
            "user": {"email": self.email},
            "object": {"type": "post" if upvote else "answer", "id": f"{os.getpid()}-{n}"},
            "data": {"upvotes": 1, "voter": {"email": f"voter{n % 50}@forum.example"}} if upvote else {},
        }
        body = json.dumps(event).encode()
        stamp = str(int(time.time()))
        signature = hmac.new(DATA["secret"].encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()
        headers = {
            "Content-Type": "application/json",
            "X-Goldbook-Integration": DATA["integration"],
            "X-Goldbook-Timestamp": stamp,
            "X-Goldbook-Signature": f"sha256={signature}",
        }
        with self.client.post("/api/rewards/events", data=body, headers=headers, catch_response=True) as r:
            _judge(r, (202,))

    @task(5)
    def leaderboard(self) -> None:
        period = random.choice(("all", "month", "week"))
        with self.client.get(
            f"/api/rewards/leaderboard?period={period}",
            headers=self.auth,
            name="/api/rewards/leaderboard",
            catch_response=True,
        ) as r:
            _judge(r, (200,))

    @task(2)
    def purchase(self) -> None:
        """The web flow with the demo method: the recharge page, a checkout, the demo payment.

        Only this browser flow carries the member's web session: the API calls are an app's, with
        its token and no cookies (a session cookie would make every API request load the session
        and its user for the member's display preferences, which a token client never has)."""
        self.client.cookies.set("sessionid", self.sessionid)
        try:
            self._purchase()
        finally:
            self.client.cookies.clear()

    def _purchase(self) -> None:
        with self.client.get("/recharge/", catch_response=True) as page:
            _judge(page, (200,))
        found = CSRF.search(page.text or "")
        if not found or not DATA["package_ids"]:
            return
        form = {
            "csrfmiddlewaretoken": found.group(1),
            "method": "demo",
            "package_id": random.choice(DATA["package_ids"]),
        }
        with self.client.post("/recharge/checkout/", data=form, allow_redirects=False, catch_response=True) as made:
            _judge(made, (302,))
        payment = PAYMENT_URL.search(made.headers.get("Location", ""))
        if payment is None:
            return
        with self.client.post(
            f"/payments/{payment.group(1)}/demo-pay/",
            data={"csrfmiddlewaretoken": found.group(1)},
            allow_redirects=False,
            name="/payments/[id]/demo-pay/",
            catch_response=True,
        ) as paid:
            _judge(paid, (302,))
