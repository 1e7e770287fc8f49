"""docker-compose.scale.yml (issue 14), checked without Docker: both files parse, and layered as
`docker compose -f docker-compose.yml -f docker-compose.scale.yml` they wire every app process
through PgBouncer in transaction pooling with the settings that pooling needs, migrate once
before anything starts, run several web processes and workers, and exactly one beat."""

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import pytest

yaml = pytest.importorskip("yaml")

ROOT = Path(__file__).resolve().parent.parent
APP = ("web", "worker", "beat")


def load(name: str) -> dict:
    return yaml.safe_load((ROOT / name).read_text())


def merged() -> dict[str, dict]:
    """The services as Compose merges an override file: maps (environment, depends_on, deploy)
    key by key, everything else replaced."""
    base, scale = load("docker-compose.yml")["services"], load("docker-compose.scale.yml")["services"]
    out = {name: dict(spec) for name, spec in base.items()}
    for name, spec in scale.items():
        target = out.setdefault(name, {})
        for key, value in spec.items():
            if isinstance(value, dict) and isinstance(target.get(key), dict):
                target[key] = {**target[key], **value}
            else:
                target[key] = value
    return out


def depends(spec: dict) -> dict:
    needs = spec.get("depends_on", {})
    return needs if isinstance(needs, dict) else dict.fromkeys(needs, {})


def test_both_files_parse_and_the_override_adds_only_buildable_services():
    base = load("docker-compose.yml")["services"]
    for name, spec in load("docker-compose.scale.yml")["services"].items():
        assert name in base or "image" in spec or "build" in spec, name


def test_every_dependency_names_a_service():
    services = merged()
    missing = {(name, need) for name, spec in services.items() for need in depends(spec) if need not in services}
    assert missing == set()


def test_app_processes_reach_postgres_through_pgbouncer_in_transaction_pooling():
    services = merged()
    pool = services["pgbouncer"]["environment"]
    assert pool["POOL_MODE"] == "transaction"
    server = urlsplit(pool["DATABASE_URL"])
    postgres = services["postgres"]["environment"]
    assert (server.hostname, server.username, server.password, server.path) == (
        "postgres",
        postgres["POSTGRES_USER"],
        postgres["POSTGRES_PASSWORD"],
        "/" + postgres["POSTGRES_DB"],
    )
    for name in APP:
        env = services[name]["environment"]
        client = urlsplit(env["DATABASE_URL"])
        assert client.hostname == "pgbouncer" and client.port == int(pool["LISTEN_PORT"]), name
        assert (client.username, client.password, client.path) == (server.username, server.password, server.path)
        assert env["PGBOUNCER_TRANSACTION_POOLING"] == "true", name
        assert env["REDIS_URL"].startswith("redis://redis:"), name  # channel layer, cache, broker: shared
        assert depends(services[name])["pgbouncer"] == {"condition": "service_healthy"}, name


def test_migrations_run_once_straight_to_postgres_before_any_app_process():
    services = merged()
    migrate = services["migrate"]
    assert "migrate" in migrate["command"] and urlsplit(migrate["environment"]["DATABASE_URL"]).hostname == "postgres"
    for name in APP:
        assert depends(services[name])["migrate"] == {"condition": "service_completed_successfully"}, name
        assert "migrate" not in " ".join(services[name]["command"]), name


def test_web_and_workers_scale_out_and_beat_stays_a_singleton():
    services = merged()
    assert services["web"]["deploy"]["replicas"] >= 2
    assert services["worker"]["deploy"]["replicas"] >= 2
    assert services["beat"]["deploy"]["replicas"] == 1


def settings_under(**env: str) -> dict:
    """config.settings as a process with this environment would read it."""
    code = (
        "import json; from config import settings as s; db = s.DATABASES['default']; "
        "print(json.dumps({'prepare': s.GOLDBOOK_SQL_PREPARE, "
        "'cursors_off': db.get('DISABLE_SERVER_SIDE_CURSORS', False), "
        "'layer': s.CHANNEL_LAYERS['default']['BACKEND'], 'cache': s.CACHES['default']['BACKEND']}))"
    )
    clean = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "GOLDBOOK_SQL_PREPARE")}
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={**clean, **env}, capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_transaction_pooling_turns_off_what_would_outlive_a_transaction():
    scaled = merged()["web"]["environment"]
    pooled = settings_under(
        DATABASE_URL=scaled["DATABASE_URL"],
        REDIS_URL=scaled["REDIS_URL"],
        PGBOUNCER_TRANSACTION_POOLING=scaled["PGBOUNCER_TRANSACTION_POOLING"],
    )
    assert pooled["prepare"] is False and pooled["cursors_off"] is True
    # Several processes: the Redis channel layer and cache, never a process's own memory.
    assert pooled["layer"] == "config.channel_layers.RedisChannelLayer"
    assert pooled["cache"].endswith("RedisCache")
    direct = settings_under(DATABASE_URL="postgres://goldbook:goldbook@postgres:5432/goldbook")
    assert direct["prepare"] is True and direct["cursors_off"] is False
    embedded = settings_under()
    assert embedded["layer"] == "channels.layers.InMemoryChannelLayer"
