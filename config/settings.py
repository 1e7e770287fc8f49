"""Goldbook settings, read from the environment (django-environ).

With no environment at all this is the embedded default a newcomer gets from `make run`: SQLite,
Celery tasks run in-process, local-memory cache, console email. Setting `DATABASE_URL` and
`REDIS_URL` moves the same code onto PostgreSQL and Redis. `config.settings_production` adds the
deployment hardening on top of this module.
"""

from decimal import Decimal
from pathlib import Path

import django_stubs_ext
import environ
from celery.schedules import crontab

# Lets the type stubs' generic classes (QuerySet[Model], …) be subscripted at run time too.
django_stubs_ext.monkeypatch()

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=True)
# Only the embedded default may fall back to this key; production settings refuse it.
INSECURE_DEV_SECRET_KEY = "django-insecure-goldbook-embedded-default-key-do-not-deploy"
SECRET_KEY = env.str("SECRET_KEY", default=INSECURE_DEV_SECRET_KEY)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[SITE_URL])
CSRF_FAILURE_VIEW = "config.errors.csrf_failure"  # the branded 403 page, with what to do

INSTALLED_APPS = [
    # First: its runserver replaces Django's, so `make run` serves HTTP and /ws/ (ASGI) in one process.
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "channels",  # live updates over /ws/ (config/asgi.py, core/live.py)
    "ninja",  # serves /api/docs assets from our static files instead of a CDN
    "allauth",
    "allauth.account",
    "allauth.usersessions",
    # Who changed a money setting, when, and from what to what (rules, boosters, packages, tiers).
    "simple_history",
    "core",
    "accounts",
    "wallet",
    "downloads",
    "payments",
    "rewards",
    "portal",  # the site on top: composes the apps above, none of which imports it
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # 413 for oversized bodies before anything reads them (core/middleware.py).
    "core.middleware.BodyLimitMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language from the language cookie (the switcher) or Accept-Language; a signed-in
    # member's saved language overrides it below (accounts.middleware).
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # The member's saved language and time zone (else the site default zone) for this request.
    "accounts.middleware.MemberPreferencesMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    # Stamps each recorded change with the staff member who made it.
    "simple_history.middleware.HistoryRequestMiddleware",
    # Innermost: a lost database connection is a 503 with Retry-After, never a 500 (core/middleware.py).
    "core.middleware.ServiceUnavailableMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "django.template.context_processors.i18n",
                "django.template.context_processors.tz",
                "config.context_processors.site",
                "wallet.context_processors.wallet",
                "portal.context_processors.notifications",
            ],
        },
    },
]

# --- Database -----------------------------------------------------------------------------
# SQLite: IMMEDIATE transactions take the write lock at BEGIN, so two requests that both
# mean to move money queue behind each other instead of one failing with "database is
# locked" when it upgrades its read lock. WAL lets readers carry on meanwhile.
SQLITE_DEFAULT = {
    "ENGINE": "django.db.backends.sqlite3",
    "NAME": BASE_DIR / "db.sqlite3",
    "OPTIONS": {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    },
}
if env.str("DATABASE_URL", default=""):
    DATABASES = {"default": env.db("DATABASE_URL")}
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
else:
    DATABASES = {"default": SQLITE_DEFAULT}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# Behind PgBouncer in transaction pooling (docker-compose.scale.yml), one client connection runs
# each transaction on whichever server connection is free: nothing may outlive a transaction on
# the server. Django's server-side cursors (QuerySet.iterator()) and the SQL-level PREPARE of
# core/db.py would (PgBouncer's max_prepared_statements covers protocol-level statements only, and
# psycopg2 sends none), so this setting turns both off. README "Running on more than one machine".
PGBOUNCER_TRANSACTION_POOLING = env.bool("PGBOUNCER_TRANSACTION_POOLING", default=False)
if PGBOUNCER_TRANSACTION_POOLING and DATABASES["default"]["ENGINE"].endswith("postgresql"):
    DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = True
# PostgreSQL: run the hottest hand-written queries as server-side prepared statements
# (core/db.py). Off behind a pooler that does not keep a server connection per client
# connection (PgBouncer in transaction mode, above).
GOLDBOOK_SQL_PREPARE = env.bool("GOLDBOOK_SQL_PREPARE", default=not PGBOUNCER_TRANSACTION_POOLING)

# --- Cache and Celery ---------------------------------------------------------------------
REDIS_URL = env.str("REDIS_URL", default="")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="goldbook"),
        }
    }
    CELERY_BROKER_URL = REDIS_URL
    CELERY_RESULT_BACKEND = None
    CELERY_TASK_ALWAYS_EAGER = False
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    CELERY_BROKER_URL = "memory://"
    CELERY_TASK_ALWAYS_EAGER = True
    CELERY_TASK_EAGER_PROPAGATES = True

CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TIMEZONE = "UTC"
# Periodic schedules live in code, next to the tasks they drive.
CELERY_BEAT_SCHEDULE = {
    "wallet-expire-holds": {"task": "wallet.expire_holds", "schedule": 60.0},
    "wallet-expire-credits": {"task": "wallet.expire_credits", "schedule": 3600.0},
    # Delivers outbox events whose after-commit kick was lost (broker down, process killed).
    "core-outbox-sweep": {"task": "core.outbox_sweep", "schedule": 30.0},
    # The ledger audit, nightly (UTC); its result shows on the staff economy page.
    "wallet-audit-ledger": {"task": "wallet.audit_ledger", "schedule": crontab(hour=19, minute=30)},
    # The economy report of the month just ended, emailed to GOLDBOOK_ECONOMY_REPORT_EMAILS.
    # Hourly rollups of the ledger for the economy page, and their nightly check against it.
    "portal-economy-rollup": {"task": "portal.economy_rollup_refresh", "schedule": 600.0},
    "portal-economy-reconcile": {"task": "portal.economy_rollup_reconcile", "schedule": crontab(hour=20, minute=0)},
    "portal-economy-report": {
        "task": "portal.economy_report_monthly",
        "schedule": crontab(day_of_month=1, hour=1, minute=0),
    },
}
# Delivered outbox events are kept this long for inspection in the admin, then purged.
GOLDBOOK_OUTBOX_RETENTION_DAYS = env.int("GOLDBOOK_OUTBOX_RETENTION_DAYS", default=7)

# --- Auth ---------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/dashboard/"
LOGOUT_REDIRECT_URL = "/"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]

# --- Email --------------------------------------------------------------------------------
EMAIL_CONFIG = env.email_url("EMAIL_URL", default="consolemail://")
vars().update(EMAIL_CONFIG)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Goldbook <no-reply@goldbook.local>")
# Who receives the monthly economy report (CSV) for the month just ended; none: it is not sent.
GOLDBOOK_ECONOMY_REPORT_EMAILS = env.list("GOLDBOOK_ECONOMY_REPORT_EMAILS", default=[])

# --- I18N, static, media --------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# Stored times stay UTC; pages show them in the member's time zone, else this site default.
TIME_ZONE = "UTC"
GOLDBOOK_DEFAULT_TIME_ZONE = env.str("GOLDBOOK_DEFAULT_TIME_ZONE", default="Asia/Shanghai")
USE_I18N = True
USE_TZ = True
# Amounts paid are USD; members may see them beside an equivalent in one of these (rates set by
# staff in the admin).
GOLDBOOK_DISPLAY_CURRENCIES = ["USD", "CNY", "EUR"]

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(BASE_DIR / "media")))
MEDIA_URL = "/media/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}

# --- Goldbook -------------------------------------------------------------------------------
GOLDBOOK_SITE_NAME = env.str("GOLDBOOK_SITE_NAME", default="Goldbook")
# The default currency: a forum may call its credits "Gold Coins".
GOLDBOOK_CURRENCY_CODE = "CREDIT"
GOLDBOOK_CURRENCY_NAME = env.str("GOLDBOOK_CURRENCY_NAME", default="Credits")
GOLDBOOK_CURRENCY_DECIMALS = 2
# A hold nobody captures or releases is released after this long.
GOLDBOOK_HOLD_TTL_SECONDS = env.int("GOLDBOOK_HOLD_TTL_SECONDS", default=3600)
# Credit categories (wallet/lots.py). Promotional credits from these sources (a transfer kind, or
# `welcome`/`referral`) expire this many days after they are credited; paid credits never do.
GOLDBOOK_CREDIT_EXPIRY_DAYS: dict[str, int] = {"welcome": 90}
# Spending draws from lots soonest-expiring first, then from open-ended lots in this order.
GOLDBOOK_CREDIT_SPEND_ORDER = ("granted", "bonus", "earned", "paid")
# Members are told (Event.CREDITS_EXPIRING) this many days before their credits expire.
GOLDBOOK_CREDIT_EXPIRY_NOTICE_DAYS = env.int("GOLDBOOK_CREDIT_EXPIRY_NOTICE_DAYS", default=7)
# One song download costs this many credits (downloads charge it; accounts reports
# `songs_available` = spendable balance / price, rounded down).
GOLDBOOK_SONG_PRICE = Decimal(env.str("GOLDBOOK_SONG_PRICE", default="0.35"))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# App settings blocks follow, one per app, each headed `# --- <app> ---`.

# --- downloads ---
# Item files and job archives live on this storage alias ("default" = local MEDIA_ROOT, which no
# URL route serves). Files are reached only through signed, expiring, user-bound links.
DOWNLOADS_STORAGE_ALIAS = env.str("DOWNLOADS_STORAGE_ALIAS", default="default")
# Non-empty in production: Django answers with `X-Accel-Redirect: <prefix><file name>` and the web
# server streams the file from an `internal` location (e.g. "/protected/"). Empty = Django serves.
DOWNLOADS_X_ACCEL_REDIRECT_PREFIX = env.str("DOWNLOADS_X_ACCEL_REDIRECT_PREFIX", default="")
DOWNLOADS_LINK_MAX_AGE = env.int("DOWNLOADS_LINK_MAX_AGE", default=900)
DOWNLOADS_MAX_SONGS_PER_JOB = env.int("DOWNLOADS_MAX_SONGS_PER_JOB", default=200)
# One run of a job is stopped after this long (Celery's hard limit; the soft limit 30 s earlier fails
# the job). No run begins later than DOWNLOADS_HOLD_TTL_SECONDS minus this after the job was created,
# so no hold expires under a live run.
DOWNLOADS_JOB_TIME_LIMIT = env.int("DOWNLOADS_JOB_TIME_LIMIT", default=600)
# Must outlive the job time limit (a system check enforces it), so no hold expires under a live job.
DOWNLOADS_HOLD_TTL_SECONDS = env.int("DOWNLOADS_HOLD_TTL_SECONDS", default=1800)
DOWNLOADS_FREE_PER_ACCOUNT = env.int("DOWNLOADS_FREE_PER_ACCOUNT", default=3)
DOWNLOADS_AD_GRANTS_PER_DAY = env.int("DOWNLOADS_AD_GRANTS_PER_DAY", default=5)
DOWNLOADS_AD_TOKEN_MAX_AGE = env.int("DOWNLOADS_AD_TOKEN_MAX_AGE", default=900)
# Shared with the ad network, which signs ad-completion tokens with it. Empty = ads are off.
ADS_HMAC_SECRET = env.str("ADS_HMAC_SECRET", default="")
DOWNLOADS_UPLOAD_MAX_BYTES = env.int("DOWNLOADS_UPLOAD_MAX_BYTES", default=20 * 1024 * 1024)
# The whole body of a multipart upload (core.middleware.BodyLimitMiddleware answers 413 above it):
# an EA and its report at DOWNLOADS_UPLOAD_MAX_BYTES each plus the form, as nginx's
# client_max_body_size (41m). Other bodies are capped at DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB).
GOLDBOOK_MAX_UPLOAD_BODY_BYTES = env.int("GOLDBOOK_MAX_UPLOAD_BODY_BYTES", default=41 * 1024 * 1024)
# --- downloads: EA upload quota and rate (issue 11, item 15) -----------------------------------
# Bytes of files one member may have uploaded in all, and EA upload attempts per member
# (django-ratelimit rate). The size limit above is enforced while the upload streams in
# (downloads/uploads.py); nginx caps the whole request body (config/nginx.conf).
DOWNLOADS_UPLOAD_QUOTA_BYTES = env.int("DOWNLOADS_UPLOAD_QUOTA_BYTES", default=100 * 1024 * 1024)
DOWNLOADS_UPLOAD_RATE = env.str("DOWNLOADS_UPLOAD_RATE", default="10/h")
# --- end item 15 ---------------------------------------------------------------------------------
DOWNLOADS_EA_EXTENSIONS = env.list("DOWNLOADS_EA_EXTENSIONS", default=[".ex4", ".ex5", ".mq4", ".mq5", ".zip"])
DOWNLOADS_REPORT_EXTENSIONS = env.list("DOWNLOADS_REPORT_EXTENSIONS", default=[".htm", ".html", ".pdf", ".png"])
CELERY_BEAT_SCHEDULE["downloads-fail-stale-jobs"] = {"task": "downloads.fail_stale_jobs", "schedule": 60.0}
# --- downloads: a job cut off by a worker crash runs again (issue 10, item 6) ---------------
# A running job holds a lease in PostgreSQL (DownloadJob.lease_until), renewed as it packs songs.
# A worker killed mid-job (kill -9, out of memory, a lost machine) stops renewing it; once it
# lapses, the sweep below queues the job again and the next run takes it over. So a killed job
# runs again about one lease plus one sweep interval after the crash, on any live worker.
DOWNLOADS_JOB_LEASE_SECONDS = env.int("DOWNLOADS_JOB_LEASE_SECONDS", default=45)
# Runs begun after which a job is failed instead of queued again: bounds a job that kills its
# worker every time (out of memory, the hard time limit).
DOWNLOADS_JOB_MAX_ATTEMPTS = env.int("DOWNLOADS_JOB_MAX_ATTEMPTS", default=5)
# No `expires`: behind a backlog of jobs a sweep message would expire before a worker reached it.
# Sweeps queued while no worker was up run back to back; each after the first finds nothing.
CELERY_BEAT_SCHEDULE["downloads-requeue-lapsed-jobs"] = {"task": "downloads.requeue_lapsed_jobs", "schedule": 15.0}
# Redis hands an unacknowledged (acks_late) message to another worker only `visibility_timeout`
# seconds after it was delivered, whether or not its worker is alive. It must outlast the longest
# acks_late run (DOWNLOADS_JOB_TIME_LIMIT, a system check enforces it) and the longest retry
# countdown (retry_backoff_max, 600 s by default), or a running or waiting task is delivered a
# second time. So it is no recovery tool: the job lease above is. A killed worker's messages come
# back after it as a backstop (harmless: a finished job's run does nothing). Merged into options
# other blocks may set (socket timeouts).
CELERY_BROKER_TRANSPORT_OPTIONS = {**vars().get("CELERY_BROKER_TRANSPORT_OPTIONS", {}), "visibility_timeout": 3600}
# --- payments -------------------------------------------------------------------------------
# Prices: 1 USD buys PAYMENTS_CREDITS_PER_USD credits; CNY is shown at the admin-set rate
# (Pricing settings in the admin), this default until an admin sets one.
PAYMENTS_CREDITS_PER_USD = env.str("PAYMENTS_CREDITS_PER_USD", default="1")
PAYMENTS_DEFAULT_CNY_PER_USD = env.str("PAYMENTS_DEFAULT_CNY_PER_USD", default="7.20")
PAYMENTS_CUSTOM_MIN_USD = env.str("PAYMENTS_CUSTOM_MIN_USD", default="5")
PAYMENTS_CUSTOM_MAX_USD = env.str("PAYMENTS_CUSTOM_MAX_USD", default="1000")
PAYMENTS_DAILY_LIMIT_USD = env.str("PAYMENTS_DAILY_LIMIT_USD", default="2000")
PAYMENTS_MONTHLY_LIMIT_USD = env.str("PAYMENTS_MONTHLY_LIMIT_USD", default="10000")
PAYMENTS_POLL_BATCH = env.int("PAYMENTS_POLL_BATCH", default=25)
COINPAYMENTS_API_URL = env.str("COINPAYMENTS_API_URL", default="https://www.coinpayments.net/api.php")
COINPAYMENTS_PUBLIC_KEY = env.str("COINPAYMENTS_PUBLIC_KEY", default="")
COINPAYMENTS_PRIVATE_KEY = env.str("COINPAYMENTS_PRIVATE_KEY", default="")
COINPAYMENTS_MERCHANT_ID = env.str("COINPAYMENTS_MERCHANT_ID", default="")
COINPAYMENTS_IPN_SECRET = env.str("COINPAYMENTS_IPN_SECRET", default="")
COINPAYMENTS_ACCEPTED_COINS = env.list("COINPAYMENTS_ACCEPTED_COINS", default=["USDT.TRC20", "USDT.ERC20", "BTC"])
COINPAYMENTS_TIMEOUT_SECONDS = env.float("COINPAYMENTS_TIMEOUT_SECONDS", default=10.0)
COINPAYMENTS_MAX_RETRIES = env.int("COINPAYMENTS_MAX_RETRIES", default=3)
E9TH_RPC_URL = env.str("E9TH_RPC_URL", default="")
E9TH_TOKEN_ADDRESS = env.str("E9TH_TOKEN_ADDRESS", default="")
E9TH_DEPOSIT_ADDRESS = env.str("E9TH_DEPOSIT_ADDRESS", default="")
E9TH_MIN_CONFIRMATIONS = env.int("E9TH_MIN_CONFIRMATIONS", default=3)
E9TH_TOKEN_DECIMALS = env.int("E9TH_TOKEN_DECIMALS", default=None)
E9TH_PENDING_TIMEOUT_MINUTES = env.int("E9TH_PENDING_TIMEOUT_MINUTES", default=30)
E9TH_RPC_TIMEOUT_SECONDS = env.float("E9TH_RPC_TIMEOUT_SECONDS", default=10.0)

CELERY_BEAT_SCHEDULE["payments-poll"] = {"task": "payments.poll", "schedule": 60.0}
# --- issue 10, helper "requests": provider calls inside a member's request -------------------------
# All CoinPayments calls of one checkout request together (connect/read timeouts, retries,
# backoff, the invoice look-up after an ambiguous failure) stop after this many seconds, so the
# request ends before gunicorn's 30 s worker timeout kills it. A checkout left without the
# provider's answer for twice this long is "abandoned": its Idempotency-Key may start again.
COINPAYMENTS_CHECKOUT_BUDGET_SECONDS = env.float("COINPAYMENTS_CHECKOUT_BUDGET_SECONDS", default=20.0)
# The same for every chain RPC of one E9th claim request (receipt, head block, decimals, re-check).
E9TH_REQUEST_BUDGET_SECONDS = env.float("E9TH_REQUEST_BUDGET_SECONDS", default=20.0)
# --- end of issue 10 "requests" block ---------------------------------------------------------------
# --- issue 11 item 2, helper "payments": no testnet coin for real money ---------------------------
# CoinPayments' test coins are worth nothing. They are offered (on top of the accepted coins) only
# while DEBUG is on, or when the operator opts in with this setting; `check --deploy` warns then.
# A test coin listed in COINPAYMENTS_ACCEPTED_COINS without either is refused at checkout.
COINPAYMENTS_TEST_COINS = ["LTCT"]
COINPAYMENTS_ACCEPT_TEST_COINS_FOR_REAL_MONEY = env.bool("COINPAYMENTS_ACCEPT_TEST_COINS_FOR_REAL_MONEY", default=False)
# The demo payment method (credits for no money) on a site with no provider keys at all: on with
# DEBUG (the embedded default); the load test turns it on with DEBUG off, to measure the site
# without DEBUG's query log. config/settings_production.py forces it off.
PAYMENTS_DEMO_METHOD = env.bool("PAYMENTS_DEMO_METHOD", default=DEBUG)
# --- end of issue 11 item 2 block -------------------------------------------------------------------

# --- accounts -----------------------------------------------------------------------------
# Email + PIN sign-in through django-allauth; the PIN lives in the user's password field.
# PASSWORD_HASHERS (Auth section above) puts Django's BCryptSHA256PasswordHasher first: bcrypt at
# cost 12 (its `rounds` in Django 5.2; tests/accounts/test_pin.py checks the hash says `$2b$12$`).
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "accounts.validators.PinFormatValidator"},
    {"NAME": "accounts.validators.CommonPinValidator"},
]
AUTHENTICATION_BACKENDS = ["accounts.backends.PinBackend"]
ACCOUNT_ADAPTER = "accounts.adapter.PinAccountAdapter"
ACCOUNT_FORMS = {
    "login": "accounts.forms.PinLoginForm",
    "signup": "accounts.forms.PinSignupForm",
    "reset_password": "accounts.forms.PinResetRequestForm",
    "reset_password_from_key": "accounts.forms.PinResetForm",
    "change_password": "accounts.forms.PinChangeForm",
    "set_password": "accounts.forms.PinSetForm",
}
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*"]
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_UNIQUE_EMAIL = True
# Optional for signing in (the API signs in right after registering); required before a PIN
# can be recovered by email (accounts.adapter sends a verification mail instead of a link).
ACCOUNT_EMAIL_VERIFICATION = "optional"
ACCOUNT_PREVENT_ENUMERATION = True
ACCOUNT_SESSION_REMEMBER = True
ACCOUNT_LOGOUT_ON_PASSWORD_CHANGE = False
ACCOUNT_LOGIN_ON_PASSWORD_RESET = False
ACCOUNT_EMAIL_SUBJECT_PREFIX = f"[{GOLDBOOK_SITE_NAME}] "
ACCOUNT_DEFAULT_HTTP_PROTOCOL = "https" if SITE_URL.startswith("https") else "http"
# allauth's own limits on emails and pages; failed PIN checks are counted by accounts.throttle
# (shared by the web and the API), so allauth's `login_failed` counter is switched off.
ACCOUNT_RATE_LIMITS = {
    "login_failed": False,
    "signup": env.str("GOLDBOOK_SIGNUP_RATE", default="10/h/ip"),
    "reset_password": "20/m/ip,5/m/key",
    "reset_password_from_key": "20/m/ip",
    "login": "30/m/ip",
}
# Behind a reverse proxy set this to the number of proxies that append to X-Forwarded-For, so
# per-IP limits see the client and not the proxy.
ALLAUTH_TRUSTED_PROXY_COUNT = env.int("GOLDBOOK_TRUSTED_PROXY_COUNT", default=0)
USERSESSIONS_TRACK_ACTIVITY = False

# Brute-force limits on failed PIN checks (web and API share them): "<n>/<window>".
GOLDBOOK_PIN_FAILURES_PER_EMAIL = env.str("GOLDBOOK_PIN_FAILURES_PER_EMAIL", default="5/15m")
GOLDBOOK_PIN_FAILURES_PER_IP = env.str("GOLDBOOK_PIN_FAILURES_PER_IP", default="20/15m")
# Consecutive failed checks (across windows; a success resets) that lock the account until the
# member recovers it through the emailed link.
GOLDBOOK_PIN_LOCKOUT_AFTER = env.int("GOLDBOOK_PIN_LOCKOUT_AFTER", default=10)
# API registrations per client IP (django-ratelimit rate).
GOLDBOOK_REGISTER_RATE = env.str("GOLDBOOK_REGISTER_RATE", default="10/h")
RATELIMIT_USE_CACHE = "default"
# --- rewards ---
# Coins a member can earn per UTC day from capped rules (accepted answers and bounties are exempt).
REWARDS_DAILY_CAP = env.str("REWARDS_DAILY_CAP", default="200")
# Bounties: default and longest duration, Stack Exchange's grace period after expiry, minimum.
REWARDS_BOUNTY_DAYS = env.int("REWARDS_BOUNTY_DAYS", default=7)
REWARDS_BOUNTY_MAX_DAYS = env.int("REWARDS_BOUNTY_MAX_DAYS", default=30)
REWARDS_BOUNTY_GRACE_HOURS = env.int("REWARDS_BOUNTY_GRACE_HOURS", default=24)
REWARDS_BOUNTY_MIN = env.str("REWARDS_BOUNTY_MIN", default="5")
# "auto": Redis sorted sets when REDIS_URL is set, SQL aggregates otherwise; "sql" forces SQL.
REWARDS_LEADERBOARD_BACKEND = env.str("REWARDS_LEADERBOARD_BACKEND", default="auto")
REWARDS_REDIS_PREFIX = env.str("REWARDS_REDIS_PREFIX", default="goldbook:rewards:lb")

# Issue 11 item 13: forum events are signed over "<X-Goldbook-Timestamp>." + body; a timestamp
# further than this from our clock is refused (401), so a captured request cannot be replayed.
REWARDS_EVENT_SIGNATURE_TOLERANCE_SECONDS = env.int("REWARDS_EVENT_SIGNATURE_TOLERANCE_SECONDS", default=300)

# Issue 11 item 7: bounty award attempts per member (django-ratelimit rate).
REWARDS_BOUNTY_AWARD_RATE = env.str("REWARDS_BOUNTY_AWARD_RATE", default="10/h")
CELERY_BEAT_SCHEDULE["rewards-apply-pending-events"] = {"task": "rewards.apply_pending_events", "schedule": 300.0}
CELERY_BEAT_SCHEDULE["rewards-expire-bounties"] = {"task": "rewards.expire_bounties", "schedule": 600.0}
CELERY_BEAT_SCHEDULE["rewards-expire-group-grants"] = {"task": "rewards.expire_group_grants", "schedule": 600.0}
CELERY_BEAT_SCHEDULE["rewards-rebuild-leaderboards"] = {"task": "rewards.rebuild_leaderboards", "schedule": 86400.0}

# --- Redis: timeouts and what each use does when Redis fails (issue 10, items 3-5) ----------
# A hung Redis (it accepts connections and never answers) must cost a request a bounded wait,
# never a gunicorn worker: every Redis client gets a connect and a read timeout. redis-py would
# wait 5 s per call by default, and kombu passes None (forever) to the broker's connections.
# When Redis fails or times out:
#   - the cache, which holds the sign-in, registration and PIN-recovery counters: those pages
#     fail closed with a 503 and Retry-After (no counters would let a PIN be brute-forced);
#     nothing else the site serves reads the cache (accounts.throttle, accounts.views);
#   - the broker: the outbox's after-commit kick gives up and the beat sweep delivers the event
#     once Redis is back (core.outbox.kick);
#   - the leaderboards: reads come from the SQL aggregates, and the sorted sets are rebuilt
#     before Redis is trusted again (rewards.services.leaderboards).
GOLDBOOK_REDIS_CONNECT_TIMEOUT = env.float("GOLDBOOK_REDIS_CONNECT_TIMEOUT", default=1.0)
# Above the broker's 1 s BRPOP poll, which a worker reads with this same timeout.
GOLDBOOK_REDIS_TIMEOUT = env.float("GOLDBOOK_REDIS_TIMEOUT", default=2.0)
# Retry-After (seconds) on the 503 sign-in and registration answer while Redis is out.
GOLDBOOK_REDIS_RETRY_AFTER = env.int("GOLDBOOK_REDIS_RETRY_AFTER", default=30)
REDIS_TIMEOUTS = {
    "socket_connect_timeout": GOLDBOOK_REDIS_CONNECT_TIMEOUT,
    "socket_timeout": GOLDBOOK_REDIS_TIMEOUT,
}
if REDIS_URL:
    # django.core.cache.backends.redis passes OPTIONS on to redis-py's ConnectionPool.
    CACHES["default"]["OPTIONS"] = {**CACHES["default"].get("OPTIONS", {}), **REDIS_TIMEOUTS}
    # Merged with any transport options set above (the worker's visibility_timeout). A publisher
    # (the outbox kick) gives up connecting after connect_retries_timeout instead of kombu's
    # 4 s of retries; the worker's own reconnect loop passes its own limits and is not bound by it.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        **globals().get("CELERY_BROKER_TRANSPORT_OPTIONS", {}),
        **REDIS_TIMEOUTS,
        "connect_retries_timeout": GOLDBOOK_REDIS_TIMEOUT,
    }
# --- Live updates (issue 12): the channel layer behind /ws/ ----------------------------------
# With REDIS_URL, the Redis layer: outbox handlers run in the Celery worker and must reach sockets
# held by the web process. Without it (the embedded default), the in-memory layer: Celery runs
# eagerly in the web process, so the handler and the sockets share one process and one layer.
# When Redis fails, a publish gives up within GOLDBOOK_LIVE_PUBLISH_TIMEOUT and logs; a socket
# that cannot join its group is refused; either way the pages poll (static/js/live.js) or reload.
GOLDBOOK_LIVE_PUBLISH_TIMEOUT = env.float(
    "GOLDBOOK_LIVE_PUBLISH_TIMEOUT", default=GOLDBOOK_REDIS_CONNECT_TIMEOUT + GOLDBOOK_REDIS_TIMEOUT
)
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "config.channel_layers.RedisChannelLayer",
            "CONFIG": {
                "hosts": [{"address": REDIS_URL, **REDIS_TIMEOUTS}],
                "prefix": "goldbook:live",
                # An event older than this is stale (the figures moved on): drop, do not queue.
                "expiry": 30,
            },
        }
    }
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}

# Leaderboards marked stale (a Redis update failed) are rebuilt into Redis by this task.
CELERY_BEAT_SCHEDULE["rewards-resync-leaderboards"] = {"task": "rewards.resync_leaderboards", "schedule": 60.0}

# --- issue 13, helper "fraud": fraud and abuse signals in the admin's review queue -----------------
# Each signal is computed on demand by portal.fraud (bounded SQL aggregates); these are its
# thresholds. Amounts are US cents (deposits) or shares between 0 and 1.
FRAUD_LOOKBACK_DAYS = env.int("FRAUD_LOOKBACK_DAYS", default=90)  # the history every signal reads
FRAUD_SIGNAL_LIMIT = env.int("FRAUD_SIGNAL_LIMIT", default=50)  # most findings shown per signal
FRAUD_SHARED_WALLET_MIN_MEMBERS = env.int("FRAUD_SHARED_WALLET_MIN_MEMBERS", default=2)
FRAUD_SHARED_IP_MIN_MEMBERS = env.int("FRAUD_SHARED_IP_MIN_MEMBERS", default=3)
FRAUD_RING_MAX_LENGTH = env.int("FRAUD_RING_MAX_LENGTH", default=4)  # A→B→…→A, at most this many members
FRAUD_VELOCITY_HOURS = env.int("FRAUD_VELOCITY_HOURS", default=24)  # the recent window
FRAUD_VELOCITY_FACTOR = env.int("FRAUD_VELOCITY_FACTOR", default=5)  # recent vs the member's usual
FRAUD_VELOCITY_MIN_USD_CENTS = env.int("FRAUD_VELOCITY_MIN_USD_CENTS", default=20_000)  # below: never
FRAUD_NEW_MEMBER_USD_CENTS = env.int("FRAUD_NEW_MEMBER_USD_CENTS", default=50_000)  # no history yet
FRAUD_VOTER_GROUP_SIZE = env.int("FRAUD_VOTER_GROUP_SIZE", default=3)
FRAUD_VOTER_SHARE = env.float("FRAUD_VOTER_SHARE", default=0.8)  # of the member's voted awards
FRAUD_VOTER_MIN_AWARDS = env.int("FRAUD_VOTER_MIN_AWARDS", default=5)
FRAUD_REVERSALS_MIN = env.int("FRAUD_REVERSALS_MIN", default=3)
FRAUD_REVERSALS_SHARE = env.float("FRAUD_REVERSALS_SHARE", default=0.3)
FRAUD_EARN_OUT_HOURS = env.int("FRAUD_EARN_OUT_HOURS", default=48)  # earned, then out through bounties
FRAUD_EARN_OUT_SHARE = env.float("FRAUD_EARN_OUT_SHARE", default=0.8)
FRAUD_EARN_OUT_MIN = env.int("FRAUD_EARN_OUT_MIN", default=1_000)  # minor units earned
# --- end of issue 13 "fraud" block -------------------------------------------------------------------
