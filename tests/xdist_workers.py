"""Loaded with `-p tests.xdist_workers` (pyproject's addopts), before pytest-django reads the
settings: under pytest-xdist each worker takes its own Redis database (REDIS_URL's number minus
the worker's index), as pytest-django gives each its own test database. Every test clears the
cache (FLUSHDB) and the leaderboard tests own their keys, so two workers on one Redis database
would wipe each other's state mid-test. Worker subprocesses a test starts inherit the same URL.
Without xdist (or without REDIS_URL) this does nothing."""

import os
from urllib.parse import urlsplit, urlunsplit

_worker = os.environ.get("PYTEST_XDIST_WORKER", "")  # "gw0", "gw1", … set before the worker's config
_url = os.environ.get("REDIS_URL", "")
if _worker.startswith("gw") and _url.startswith("redis://"):
    parts = urlsplit(_url)
    base = int(parts.path.lstrip("/") or 0)
    database = base - int(_worker[2:])
    if database < 0:
        raise RuntimeError(f"REDIS_URL's database {base} leaves no Redis database for xdist worker {_worker}")
    os.environ["REDIS_URL"] = urlunsplit(parts._replace(path=f"/{database}"))
