# Goldbook: `make run` starts the site on the embedded default, `make test` runs the suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

# Under CI=true the suite runs on this machine's PostgreSQL and Redis.
ifeq ($(CI),true)
export DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/goldbook
export REDIS_URL ?= redis://127.0.0.1:6379/15
endif

.DEFAULT_GOAL := help
createdb: install ## Create the PostgreSQL database DATABASE_URL names, if missing (no-op on SQLite)
	$(PY) -c 'from core.db import ensure_database; ensure_database()'

.PHONY: messages translations help install createdb run migrate seed test lint typecheck check pytest pytest-sqlite worker beat bench-ledger bench-downloads bench-accounts bench-payments bench-rewards bench-intake loadtest clean

help: ## List the recipes
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-14s %s\n", $$1, $$2}'

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(PY) requirements.txt requirements-dev.txt
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $(STAMP)

install: $(STAMP) translations ## Create the virtualenv, install pinned dependencies, compile the translations

translations: $(STAMP) ## Compile the zh_Hans catalogues (.po → .mo; msgfmt when installed, else polib)
	$(PY) -m config.translations

messages: install ## Re-extract every translatable string into the zh_Hans catalogues (then translate them)
	$(PY) manage.py makemessages -l zh_Hans --no-location --no-obsolete

migrate: createdb ## Apply database migrations
	$(PY) manage.py migrate --noinput

seed: migrate ## Load demo data (idempotent)
	$(PY) manage.py seed_demo

# daphne's runserver (first in INSTALLED_APPS) serves ASGI: pages and live updates (/ws/) in one
# process, with the in-memory channel layer and autoreload.
run: seed ## Start the site on http://127.0.0.1:8000 (SQLite, in-process tasks, demo data, live updates)
	$(PY) manage.py runserver $(HOST):$(PORT)

typecheck: install ## mypy with django-stubs (strict on core, wallet, payments)
	$(VENV)/bin/mypy

lint: install ## ruff check and format check
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

check: createdb ## Django system checks, and --deploy against production settings
	$(PY) manage.py check --fail-level WARNING
	$(PY) manage.py makemigrations --check --dry-run
	SECRET_KEY=check-deploy-$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(48))') \
	DATABASE_URL=postgres://check@127.0.0.1/check REDIS_URL=redis://127.0.0.1:6379/0 \
	SITE_URL=https://goldbook.example.com ALLOWED_HOSTS=goldbook.example.com \
	GOLDBOOK_TRUSTED_PROXY_COUNT=1 DOWNLOADS_X_ACCEL_REDIRECT_PREFIX=/protected/ \
	$(PY) manage.py check --deploy --fail-level WARNING --settings=config.settings_production

# Two pytest-xdist workers: half the suite waits (browsers, subprocess workers, timeouts), so two
# processes keep both cores busy. Each worker has its own test database and Redis database
# (tests/xdist_workers.py). PYTEST_WORKERS=0 runs in one process (pdb, -x).
PYTEST_WORKERS ?= 2
pytest: createdb ## Run only the pytest suite
	$(PY) -m pytest -n $(PYTEST_WORKERS) --durations=20 $(PYTEST_ARGS)

# The ledger has two write paths (one PostgreSQL statement; the ORM under SQLite's write lock): CI
# runs the wallet's and the outbox's tests on SQLite too, after the whole suite on PostgreSQL.
pytest-sqlite: install ## The wallet and core tests on SQLite (what CI adds to the PostgreSQL run)
	env -u DATABASE_URL -u REDIS_URL CI= $(PY) -m pytest -n $(PYTEST_WORKERS) tests/wallet tests/core $(PYTEST_ARGS)

test: lint typecheck check pytest $(if $(filter true,$(CI)),pytest-sqlite) ## The whole suite: lint, types, checks, tests (CI: both engines)

worker: install ## Run a Celery worker (needs REDIS_URL)
	$(VENV)/bin/celery -A config worker -l info

beat: install ## Run Celery beat (needs REDIS_URL)
	$(VENV)/bin/celery -A config beat -l info

bench-ledger: install ## Ledger throughput vs pgbench (needs DATABASE_URL on PostgreSQL)
	$(PY) bench/ledger.py

bench-accounts: install ## Sign-in vs the bcrypt ceiling, token balance vs a bare view (Postgres, Redis, wrk)
	$(PY) bench/accounts.py

bench-payments: install ## Provider calls per poll pass; IPN-to-credit latency via gunicorn (PostgreSQL)
	$(PY) bench/payments.py

bench-rewards: install ## Leaderboard reads at 1M members / 10M awards; signed event ingest (PostgreSQL, Redis)
	$(PY) bench/rewards.py

bench-intake: install ## Forum events/s over HTTP (single, batch of 500) and import_events, next to ledger transfers/s (PostgreSQL)
	$(PY) bench/intake.py --seconds 5 --rounds 3

# Locust, headless, against 127.0.0.1 only: the seeds' member mix for LOADTEST_SECONDS, then the
# ledger audit; fails on any 5xx, connection error or audit problem (bench/loadtest/run.py).
loadtest: createdb ## Load test: LOADTEST_USERS (20) members for LOADTEST_SECONDS (60) on gunicorn (DATABASE_URL, REDIS_URL)
	$(PY) bench/loadtest/run.py

clean: ## Remove the virtualenv, the SQLite database and caches
	rm -rf $(VENV) db.sqlite3 db.sqlite3-* staticfiles .pytest_cache .ruff_cache

bench-downloads: install ## 50-song job time and start-download req/s via gunicorn (needs DATABASE_URL, REDIS_URL)
	$(PY) bench/downloads.py
