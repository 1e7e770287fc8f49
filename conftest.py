"""Suite-wide fixtures and the CI service gate.

Under CI=true the suite runs on the machine's PostgreSQL and Redis and stops with an error, never
a skip, when either is unreachable. Elsewhere it runs on SQLite unless DATABASE_URL is set; tests
marked `postgres` (concurrency, triggers) then skip, since SQLite cannot show what they test.
"""

import os
from collections.abc import Iterator
from pathlib import Path

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
    config.addinivalue_line("markers", "redis: needs REDIS_URL (Redis timeouts, sorted sets, a real broker)")
    if CI:
        problem = _services_problem()
        if problem:
            pytest.exit(f"CI services check failed: {problem}", returncode=3)
    # Tests read pages in Chinese too: compile any catalogue whose .mo is missing or older than
    # its .po (what `make install` does), before Django loads a translation.
    from config.translations import compile_all

    compile_all()


def _is_transactional(item: pytest.Item) -> bool:
    marker = item.get_closest_marker("django_db")
    if marker is not None and marker.kwargs.get("transaction"):
        return True
    return any(name in item.fixturenames for name in ("transactional_db", "live_server"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # A transactional test ends with a flush that also deletes the rows data migrations made
    # (the site currency, the seed packages, default earning rules). Serialized rollback reloads
    # them before every transactional test, as a freshly migrated database would have them.
    for item in items:
        if not _is_transactional(item):
            continue
        marker = item.get_closest_marker("django_db")
        if marker is not None:
            item.add_marker(
                pytest.mark.django_db(*marker.args, **{**marker.kwargs, "serialized_rollback": True}), False
            )
        elif "django_db_serialized_rollback" not in item.fixturenames:
            item.fixturenames.append("django_db_serialized_rollback")  # type: ignore[attr-defined]

    # Outside CI, tests that need a service the run does not have are skipped. Under CI=true the
    # service gate above has already stopped the run if either is missing: nothing skips there.
    from django.db import connection

    missing = []
    if connection.vendor != "postgresql":
        missing.append(("postgres", "needs PostgreSQL: set DATABASE_URL (CI always does)"))
    if not os.environ.get("REDIS_URL", "").startswith("redis://"):
        missing.append(("redis", "needs Redis: set REDIS_URL (CI always does)"))
    for marker_name, reason in missing:
        skip = pytest.mark.skip(reason=reason)
        for item in items:
            if marker_name in item.keywords:
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


@pytest.fixture(scope="session")
def migrated_sqlite_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated once per run, as `make run` would: tests that start a site or race
    two processes on the embedded default copy it (shutil.copyfile) instead of migrating their own."""
    import subprocess
    import sys

    path = tmp_path_factory.mktemp("sqlite-template") / "migrated.sqlite3"
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DJANGO_ALLOW_ASYNC_UNSAFE")}
    env.update(DATABASE_URL=f"sqlite:///{path}", DJANGO_SETTINGS_MODULE="config.settings")
    root = Path(__file__).resolve().parent
    done = subprocess.run(
        [sys.executable, "manage.py", "migrate", "--noinput", "-v0"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return path
