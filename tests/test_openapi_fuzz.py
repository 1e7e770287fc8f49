"""Property-based fuzzing of every JSON endpoint from the published OpenAPI document.

Schemathesis loads `/api/openapi.json` from the Django app itself (WSGI, no network) and runs
each operation with a bounded number of generated requests, valid and invalid. Each response
must not be a 5xx and must match what the document declares (status code, content type, body
schema). Endpoints are discovered from the document, so every app's router that is added to
`config/api.py` is covered without touching this file.

Token-authenticated operations get a fresh valid `Authorization: Bearer` token for every
example (a fuzzed `/users/logout` revokes the one it was given), so they are exercised past the
auth check; the generated body may still carry its own `session_token`, which the header wins.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from config.wsgi import application
from tests.factories import UserFactory, api_token, fund

schema = schemathesis.openapi.from_wsgi("/api/openapi.json", application)
# 402 is a valid answer to valid input here: the fuzzing member holds 45.50 credits, and what
# costs more (a bounty, a reward, a download job) is refused with the documented 402.
schema.config.checks.positive_data_acceptance.expected_statuses = [
    *schema.config.checks.positive_data_acceptance.expected_statuses,
    "402",
]

# Every JSON body refuses NUL characters and unpaired surrogates with a 400 (no database stores
# them; core.jsonbody, tested in tests/core/test_faults.py). JSON Schema's "string" cannot say so,
# so schema-valid data is generated without them.
schema.config.generation.update(allow_x00=False, codec="utf-8")

MAX_EXAMPLES = 25
# Operations that refuse some schema-valid input with a 400 by a rule JSON Schema cannot state.
# Only "schema-valid input must be accepted" is skipped for them; every other check still runs.
BUSINESS_RULE_400 = {
    ("POST", "/api/users/register"),  # the most common PINs are refused
    ("POST", "/api/users/transactions"),  # cursors are opaque: only ones we gave out are valid
    ("POST", "/api/start-download"),  # item_ids must match requested_songs; enough new songs must exist
    ("POST", "/api/credits/checkout"),  # exactly one of package_id / custom_amount_usd; min/max amounts
    ("POST", "/api/credits/purchase"),  # tx_hash and wallet_address must be well-formed hex
    ("POST", "/api/users/wallet/link"),  # the address must be hex; the signature must verify
    ("POST", "/api/ads/complete"),  # the token must carry the ad network's signature
    ("POST", "/api/rewards/bounties"),  # coins has at most two decimal places (JSON numbers are binary)
    ("POST", "/api/rewards/redeem"),  # the Idempotency-Key header and the body's idempotency_key must agree
    ("POST", "/api/items/{item_id}/download"),  # the same
}


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """Django closes "old" connections when a WSGI request starts and ends; inside the test's
    transaction that would close it. Django's own test client disconnects the same handlers."""
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture(autouse=True)
def _features_on(settings):
    settings.ADS_HMAC_SECRET = "fuzz-ad-network-secret"  # unset, /ads/complete is a documented 503


@pytest.fixture
def member(db):
    user = UserFactory(email="fuzz@example.com")
    fund(user, "45.50", key="fuzz-funding")
    return user


@pytest.mark.django_db
@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
    derandomize=True,
)
def test_api_operation_never_errors_and_matches_its_schema(case, member):
    excluded = []
    if (case.method, case.path) in BUSINESS_RULE_400:
        excluded.append(positive_data_acceptance)
    case.call_and_validate(
        headers={"Authorization": f"Bearer {api_token(member)}"},
        excluded_checks=excluded,
    )


def test_every_json_endpoint_declares_its_error_responses():
    document = schema.raw_schema
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            assert "400" in codes, f"{method.upper()} {path} does not declare its 400"
            if operation.get("security"):
                assert "401" in codes, f"{method.upper()} {path} does not declare its 401"
