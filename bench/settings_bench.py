"""Settings for the accounts benchmark only: the site plus one bare JSON view to compare with.

Never used in production: the bare view is unauthenticated and exists only under this module
(`gunicorn --env DJANGO_SETTINGS_MODULE=bench.settings_bench`).
"""

from config.settings import *  # noqa: F403

DEBUG = False
ROOT_URLCONF = "bench.urls_bench"
# Signing in from 127.0.0.1 over and over must measure the PIN check, not the throttle: the
# benchmark only signs in with the right PIN, and successes do not count anyway.
LOGGING = {"version": 1, "disable_existing_loggers": False, "root": {"level": "WARNING"}}
