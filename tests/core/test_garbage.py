"""2,000 garbage requests, as a fault test would send them (issue 10): every one answers a 4xx with
the JSON error shape (or a documented non-error), none a 5xx; afterwards the ledger audits clean
and the member's balance is exactly what it was. Deterministic (seeded) and bounded."""

import json
import random

import pytest
from django.test import Client

from tests.factories import UserFactory, api_token, fund
from wallet.audit import run_audit
from wallet.selectors import balance_for_user

pytestmark = pytest.mark.django_db

REQUESTS = 2000
PATHS = [
    "/api/users/register",
    "/api/users/login",
    "/api/users/logout",
    "/api/users/balance",
    "/api/users/transactions",
    "/api/users/wallet/challenge",
    "/api/users/wallet/link",
    "/api/start-download",
    "/api/items/1/download",
    "/api/credits/checkout",
    "/api/credits/purchase",
    "/api/ads/complete",
    "/api/rewards/events",
    "/api/rewards/redeem",
    "/api/rewards/bounties",
    "/api/rewards/bounties/1/award",
    "/payments/coinpayments/ipn/",
]


def _garbage(rng: random.Random) -> bytes:
    """One bad body: broken syntax, non-JSON values, text no database stores, deep nesting,
    wrong types, random bytes."""
    choice = rng.randrange(12)
    if choice == 0:
        return bytes(rng.randrange(256) for _ in range(rng.randrange(1, 200)))
    if choice == 1:
        return b"[" * rng.randrange(33, 5000) + b"]" * rng.randrange(0, 10)
    if choice == 2:
        return rng.choice([b"NaN", b"Infinity", b"-Infinity", b"1e999", b'{"amount": 1e999}', b'{"x": NaN}'])
    if choice == 3:
        return json.dumps({"email": "a\u0000@b.c", "pin": "1234", "session_token": "usr_\u0000"}).encode()
    if choice == 4:
        return b'{"email": "\\ud800@x.io", "pin": "\\udfff", "data": {"\\ud83d": 1}}'
    if choice == 5:
        value = rng.choice([None, True, -1, 10**40, 1.5, "", "x" * 5000, [], {}, [1] * 50])
        key = rng.choice(["requested_songs", "item_ids", "package_id", "coins", "limit", "cursor", "pin"])
        return json.dumps({key: value}).encode()
    if choice == 6:
        return json.dumps(rng.choice([[], 0, "s", None, [{}], True])).encode()
    if choice == 7:
        return b'{"a": ' + b'"' + b"\\" * rng.randrange(1, 50) + b'"}'
    if choice == 8:
        return b"\xef\xbb\xbf" + b'{"pin": "1234"}'  # a byte-order mark
    if choice == 9:
        return b'{"requested_songs": 5, "item_ids": [' + b",".join(b"1" for _ in range(3000)) + b"]}"
    if choice == 10:
        return b"status=100&txn_id=%00&amount1=NaN&ipn_mode=hmac&merchant=" + b"A" * rng.randrange(0, 3000)
    return json.dumps({"session_token": "usr_" + "A" * 43, "limit": -5, "offset": "x"}).encode()


def test_two_thousand_garbage_requests_get_4xx_and_move_no_money():
    client = Client(raise_request_exception=False)
    member = UserFactory()
    fund(member, "45.50", key="garbage-fund")
    token = api_token(member)
    before = balance_for_user(user_id=member.pk)
    rng = random.Random(20261202)
    server_errors = []
    for n in range(REQUESTS):
        path = rng.choice(PATHS)
        headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if rng.random() < 0.7 else {}
        ctype = rng.choice(["application/json", "application/x-www-form-urlencoded", "text/plain"])
        response = client.post(path, data=_garbage(rng), content_type=ctype, **headers)
        if response.status_code >= 500 and response.status_code != 503:
            server_errors.append((n, path, response.status_code, response.content[:200]))
        elif response.status_code >= 400 and response.get("Content-Type", "").startswith("application/json"):
            assert {"error", "message"} <= set(response.json()), (path, response.content[:200])
    assert not server_errors, server_errors[:5]
    after = balance_for_user(user_id=member.pk)
    assert (after.balance, after.held) == (before.balance, before.held)
    assert run_audit().problem_count == 0
