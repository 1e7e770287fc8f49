"""The Celery app (`celery -A config worker`, `celery -A config beat`).

With no REDIS_URL the settings turn on `task_always_eager`, so the embedded default runs every
task in-process and needs no broker.
"""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("config")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
