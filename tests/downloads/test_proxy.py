"""Issue 11 item 8: production is declared to run behind nginx, and says so to the app."""

import os
import re
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from downloads.checks import proxy_declared

ROOT = Path(django_settings.BASE_DIR)
COMPOSE = (ROOT / "docker-compose.yml").read_text()
NGINX = (ROOT / "config" / "nginx.conf").read_text()


def _service(name: str) -> str:
    """The text of one top-level service of docker-compose.yml (plain text: no YAML parser)."""
    match = re.search(rf"^  {name}:\n((?:    .*\n|\n)*)", COMPOSE, re.MULTILINE)
    assert match, name
    return match.group(1)


def test_only_nginx_is_published_and_gunicorn_is_not():
    assert "ports:" not in _service("web") and "expose:" in _service("web")
    assert "ports:" not in _service("live") and "expose:" in _service("live")
    assert "config/nginx.conf:/etc/nginx/conf.d/default.conf" in _service("nginx")
    assert "ports:" in _service("nginx") and "media:/srv/media:ro" in _service("nginx")
    assert [name for name in ("postgres", "redis", "worker", "beat") if "ports:" in _service(name)] == []


def test_compose_declares_the_proxy_count_and_the_internal_download_location():
    assert 'GOLDBOOK_TRUSTED_PROXY_COUNT: "1"' in COMPOSE
    prefix = re.search(r"DOWNLOADS_X_ACCEL_REDIRECT_PREFIX: (\S+)", COMPOSE).group(1)
    location = re.search(rf"location {re.escape(prefix)} \{{(.*?)\}}", NGINX, re.DOTALL)
    assert location and "internal;" in location.group(1) and "alias /srv/media/;" in location.group(1)
    # The edge proxy sets the client address itself: a client's own X-Forwarded-For is dropped.
    assert "proxy_set_header X-Forwarded-For $remote_addr;" in NGINX


def test_nginx_body_limit_fits_an_ea_and_its_report_and_no_more():
    size = re.search(r"client_max_body_size (\d+)m;", NGINX)
    assert size
    limit = int(size.group(1)) * 1024 * 1024
    upload = django_settings.DOWNLOADS_UPLOAD_MAX_BYTES
    assert 2 * upload < limit <= 2 * upload + 2 * 1024 * 1024


@pytest.mark.skipif(not shutil.which("nginx") or not shutil.which("openssl"), reason="nginx not installed")
def test_nginx_accepts_the_config(tmp_path):
    key, cert = tmp_path / "privkey.pem", tmp_path / "fullchain.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=t"]
        + ["-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )
    site = NGINX.replace("web:8000", "127.0.0.1:8000").replace("live:8000", "127.0.0.1:8001")
    site = site.replace("/etc/nginx/certs/", f"{tmp_path}/")
    (tmp_path / "site.conf").write_text(site)
    (tmp_path / "nginx.conf").write_text(
        f"pid {tmp_path}/nginx.pid;\nerror_log {tmp_path}/error.log;\n"
        f"events {{}}\nhttp {{\naccess_log off;\ninclude {tmp_path}/site.conf;\n}}\n"
    )
    done = subprocess.run(
        ["nginx", "-t", "-p", str(tmp_path), "-e", str(tmp_path / "error.log"), "-c", str(tmp_path / "nginx.conf")],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr


def test_deploy_check_fails_in_production_without_the_proxy_count(settings):
    settings.DEBUG = False
    settings.DOWNLOADS_X_ACCEL_REDIRECT_PREFIX = "/protected/"
    settings.GOLDBOOK_TRUSTED_PROXY_COUNT_DECLARED = False
    assert [m.id for m in proxy_declared(None)] == ["downloads.E003"]
    settings.GOLDBOOK_TRUSTED_PROXY_COUNT_DECLARED = True
    assert proxy_declared(None) == []
    settings.DOWNLOADS_X_ACCEL_REDIRECT_PREFIX = ""
    assert [m.id for m in proxy_declared(None)] == ["downloads.W004"]


def _check_deploy(**env: str) -> subprocess.CompletedProcess[str]:
    base = {
        "SECRET_KEY": secrets.token_urlsafe(48),
        "DATABASE_URL": "postgres://check@127.0.0.1/check",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "SITE_URL": "https://goldbook.example.com",
        "ALLOWED_HOSTS": "goldbook.example.com",
        "DOWNLOADS_X_ACCEL_REDIRECT_PREFIX": "/protected/",
    }
    # A clean deployment environment: not the test run's own settings, proxy count, or the
    # DJANGO_ALLOW_ASYNC_UNSAFE the browser tests set (check --deploy warns about it).
    dropped = {"GOLDBOOK_TRUSTED_PROXY_COUNT", "DJANGO_SETTINGS_MODULE", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    clean = {k: v for k, v in os.environ.items() if k not in dropped}
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"]
        + ["--settings=config.settings_production"],
        cwd=ROOT,
        env=clean | base | env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_against_production_settings_needs_the_proxy_count():
    refused = _check_deploy()
    assert refused.returncode != 0 and "downloads.E003" in refused.stderr + refused.stdout
    assert _check_deploy(GOLDBOOK_TRUSTED_PROXY_COUNT="1").returncode == 0
