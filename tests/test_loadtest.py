"""bench/loadtest (issue 14): the driver talks to 127.0.0.1 only and stays bounded, and every path
the locustfile requests is one the site routes (read as text: importing locust would patch this
process with gevent)."""

import re
from pathlib import Path

import pytest
from django.urls import Resolver404, resolve

from bench.loadtest import run

LOCUSTFILE = (Path(__file__).resolve().parent.parent / "bench" / "loadtest" / "locustfile.py").read_text()


@pytest.mark.parametrize(
    ("host", "users", "seconds"),
    [("10.0.0.5", 20, 60), ("localhost", 20, 60), ("goldbook.example.com", 20, 60), ("127.0.0.1", 20, 0),
     ("127.0.0.1", 20, 3600), ("127.0.0.1", 0, 60)],
)  # fmt: skip
def test_the_driver_refuses_other_hosts_and_unbounded_runs(monkeypatch, host, users, seconds):
    monkeypatch.setattr(run, "HOST", host)
    monkeypatch.setattr(run, "USERS", users)
    monkeypatch.setattr(run, "SECONDS", seconds)
    with pytest.raises(SystemExit):
        run.refuse_unsafe()


def test_the_default_run_is_allowed(monkeypatch):
    monkeypatch.setattr(run, "HOST", "127.0.0.1")
    run.refuse_unsafe()  # no SystemExit


def test_every_path_the_mix_requests_is_routed():
    # Every string literal that is a site path (not the r"…" pattern that reads a redirect).
    paths = set(re.findall(r'(?<![rR])"(/(?:api|recharge|payments)/[^"?]*)', LOCUSTFILE))
    assert len(paths) >= 10
    unrouted = []
    for path in sorted(paths):
        concrete = re.sub(r"\{[^}]*\}|\[id\]", "1", path)  # f-string holes and Locust names: ids
        try:
            resolve(concrete)
        except Resolver404:
            unrouted.append(path)
    assert unrouted == []
