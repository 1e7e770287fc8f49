"""Settings for a test worker whose item storage is slow, so a fault test can kill it mid-job.

The delay lives here, in the tests, not behind a production knob: the worker process is started
with DJANGO_SETTINGS_MODULE=tests.slow_worker_settings and SLOW_STORAGE_DELAY (seconds per file).
"""

import os
import time
from typing import Any

from django.core.files.storage import FileSystemStorage

from config.settings import *  # noqa: F403

STORAGES = {**STORAGES, "slow": {"BACKEND": "tests.slow_worker_settings.SlowStorage"}}  # noqa: F405
DOWNLOADS_STORAGE_ALIAS = "slow"


class SlowStorage(FileSystemStorage):
    """MEDIA_ROOT, with every read open taking SLOW_STORAGE_DELAY seconds."""

    def _open(self, name: str, mode: str = "rb") -> Any:
        time.sleep(float(os.environ.get("SLOW_STORAGE_DELAY", "0.5")))
        return super()._open(name, mode)
