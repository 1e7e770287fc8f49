"""Schemathesis against the rewards endpoints: no generated input may produce a 5xx."""

import pytest
import schemathesis
from hypothesis import HealthCheck, settings

from config.wsgi import application

schema = schemathesis.openapi.from_wsgi("/api/openapi.json", application).include(path_regex="^/api/rewards")


@pytest.fixture(autouse=True)
def _keep_test_connection():
    # Called through WSGI, Django closes the DB connection after each request; the test client
    # avoids that the same way, so the test's transaction survives.
    from django.core.signals import request_finished, request_started
    from django.db import close_old_connections

    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@pytest.mark.django_db
def test_rewards_api_never_errors(case):
    from accounts.services import api_session_create
    from tests.factories import RewardFactory, UserFactory, fund

    user = UserFactory()
    fund(user, "500.00")
    RewardFactory(price=100, stock=1)
    token = api_session_create(user=user, ip=None, user_agent="fuzz")[1]
    response = case.call(headers={"Authorization": f"Bearer {token}"})
    assert response.status_code < 500, response.text[:500]
