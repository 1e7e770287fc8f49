"""Issue 11 (security review), the payments items: each test is an attack that used to work."""

import pytest
import responses
from django.core import checks

from accounts.services import api_session_create
from payments.models import Payment
from tests.factories import UserFactory, credit_package

from .conftest import API_URL, create_result

pytestmark = pytest.mark.django_db


def _token(user):
    return api_session_create(user=user, ip=None, user_agent="t")[1]


# --- item 2: no testnet coin for real money ----------------------------------------------------


def _checkout(client, coin):
    return client.post(
        "/api/credits/checkout",
        {"session_token": _token(UserFactory()), "package_id": credit_package("Popular Pack").pk, "currency": coin},
        content_type="application/json",
    )


def test_the_default_coins_refuse_the_valueless_test_coin(cp_settings, rsps, client):
    rsps.add(responses.POST, API_URL, json=create_result())
    resp = _checkout(client, "LTCT")
    assert resp.status_code == 400, resp.content
    assert resp.json()["error"] == "unsupported_currency"
    assert "LTCT" not in resp.json()["accepted"]
    assert not Payment.objects.exists() and not rsps.calls


def test_a_test_coin_listed_by_the_operator_is_still_refused_without_the_opt_in(cp_settings, rsps, client):
    cp_settings.COINPAYMENTS_ACCEPTED_COINS = ["USDT.TRC20", "LTCT"]
    assert _checkout(client, "LTCT").status_code == 400
    assert not Payment.objects.exists()


@pytest.mark.parametrize("switch", ["DEBUG", "COINPAYMENTS_ACCEPT_TEST_COINS_FOR_REAL_MONEY"])
def test_the_test_coin_is_offered_in_debug_or_with_the_named_opt_in(cp_settings, rsps, client, switch):
    setattr(cp_settings, switch, True)
    rsps.add(responses.POST, API_URL, json=create_result())
    assert _checkout(client, "LTCT").status_code == 201
    assert Payment.objects.get().coin == "LTCT"


def _deploy_check_ids():
    return {m.id for m in checks.run_checks(include_deployment_checks=True, tags=[checks.Tags.security])}


def test_check_deploy_warns_while_test_coins_are_accepted(settings):
    assert "payments.W001" not in _deploy_check_ids()
    settings.COINPAYMENTS_ACCEPT_TEST_COINS_FOR_REAL_MONEY = True
    assert "payments.W001" in _deploy_check_ids()
    assert "payments.W001" not in {m.id for m in checks.run_checks()}  # a deploy check only
