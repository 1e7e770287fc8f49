"""Goldbook settings, read from the environment (django-environ).

With no environment at all this is the embedded default a newcomer gets from `make run`: SQLite,
Celery tasks run in-process, local-memory cache, console email. Setting `DATABASE_URL` and
`REDIS_URL` moves the same code onto PostgreSQL and Redis. `config.settings_production` adds the
deployment hardening on top of this module.
"""

from pathlib import Path

import environ

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

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "accounts",
    "wallet",
    "rewards",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

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
                "config.context_processors.site",
                "wallet.context_processors.wallet",
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
}

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

# --- I18N, static, media --------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

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

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# App settings blocks follow, one per app, each headed `# --- <app> ---`.

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
# Dotted path to `f(user_id) -> iterable of wallet addresses` (the payments app), for the
# same-wallet referral heuristic. Empty: the heuristic is off.
REWARDS_WALLET_ADDRESSES_PROVIDER = env.str("REWARDS_WALLET_ADDRESSES_PROVIDER", default="")
CELERY_BEAT_SCHEDULE["rewards-apply-pending-events"] = {"task": "rewards.apply_pending_events", "schedule": 300.0}
CELERY_BEAT_SCHEDULE["rewards-expire-bounties"] = {"task": "rewards.expire_bounties", "schedule": 600.0}
CELERY_BEAT_SCHEDULE["rewards-expire-group-grants"] = {"task": "rewards.expire_group_grants", "schedule": 600.0}
CELERY_BEAT_SCHEDULE["rewards-rebuild-leaderboards"] = {"task": "rewards.rebuild_leaderboards", "schedule": 86400.0}
