"""A real Celery worker process on the test database, for tests that need one (the worker cannot
see the test's mocks or its uncommitted rows: use transactional tests and local peers)."""

import os
import signal
import subprocess
import sys
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


def worker_env(**extra: str) -> dict[str, str]:
    """The environment of a worker on the test database (the one pytest-django created)."""
    db = connection.settings_dict
    return {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
        "DJANGO_SETTINGS_MODULE": "config.settings",
        **extra,
    }


def start_worker(env: dict[str, str], *, name: str) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "-l", "warning"]
    cmd += ["--without-heartbeat", "--without-gossip", "--without-mingle", "-n", f"{name}-{os.getpid()}@localhost"]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def stop_worker(worker: subprocess.Popen[bytes]) -> str:
    """Stop it (warm shutdown, then kill) and return what it printed."""
    worker.send_signal(signal.SIGTERM)
    try:
        worker.wait(timeout=15)
    except subprocess.TimeoutExpired:
        worker.kill()
        worker.wait()
    return worker.stdout.read().decode(errors="replace") if worker.stdout else ""
