"""Suite-wide fixtures and the CI service gate.

Under CI=true the suite runs on the machine's PostgreSQL and Redis and stops with an error, never
a skip, when either is unreachable. Elsewhere it runs on SQLite unless DATABASE_URL is set; tests
marked `postgres` (concurrency, triggers) then skip, since SQLite cannot show what they test.
"""

import os
from collections.abc import Iterator

import pytest

CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _services_problem() -> str | None:
    db_url = os.environ.get("DATABASE_URL", "")
    redis_url = os.environ.get("REDIS_URL", "")
    if not db_url.startswith(("postgres://", "postgresql://")):
        return "CI=true needs DATABASE_URL=postgres://… (run the suite through `make test`)."
    if not redis_url.startswith("redis://"):
        return "CI=true needs REDIS_URL=redis://… (run the suite through `make test`)."
    import psycopg2
    import redis

    try:
        psycopg2.connect(db_url, connect_timeout=5).close()
    except psycopg2.OperationalError as exc:
        return f"PostgreSQL is unreachable at {db_url}: {exc}".strip()
    try:
        redis.Redis.from_url(redis_url, socket_connect_timeout=5).ping()
    except redis.RedisError as exc:
        return f"Redis is unreachable at {redis_url}: {exc}"
    return None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgres: needs PostgreSQL (row locks, triggers, real concurrency)")
    config.addinivalue_line("markers", "browser: drives headless Chromium through Playwright")
    if CI:
        problem = _services_problem()
        if problem:
            pytest.exit(f"CI services check failed: {problem}", returncode=3)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from django.db import connection

    if connection.vendor == "postgresql":
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL: set DATABASE_URL (CI always does)")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _fast_pin_hashing(settings: pytest.FixtureRequest) -> None:
    # bcrypt at cost 12 is the point in production and a waste in most tests; tests about
    # hashing itself put BCryptSHA256PasswordHasher back.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _eager_celery_and_clean_cache() -> Iterator[None]:
    from django.core.cache import cache

    from config.celery import app

    eager, propagates = app.conf.task_always_eager, app.conf.task_eager_propagates
    app.conf.task_always_eager = True
    app.conf.task_eager_propagates = True
    cache.clear()
    yield
    cache.clear()
    app.conf.task_always_eager, app.conf.task_eager_propagates = eager, propagates


@pytest.fixture(autouse=True)
def _reference_data_in_transactional_tests(request: pytest.FixtureRequest) -> None:
    """Put back the rows data migrations create (the default currency) for transactional tests.

    A `transaction=True` test (threads, live server) ends by flushing every table, so the next
    one would start without the currency migration 0003 created.
    """
    marker = request.node.get_closest_marker("django_db")
    transactional = (marker is not None and marker.kwargs.get("transaction")) or any(
        name in request.fixturenames for name in ("transactional_db", "live_server")
    )
    if not transactional:
        return
    request.getfixturevalue("_django_db_helper")
    from django.conf import settings

    from wallet.models import Currency

    Currency.objects.get_or_create(
        code=settings.GOLDBOOK_CURRENCY_CODE,
        defaults={"name": settings.GOLDBOOK_CURRENCY_NAME, "decimal_places": settings.GOLDBOOK_CURRENCY_DECIMALS},
    )
