"""A job's zip archive in private storage: built from scratch on every attempt, deleted quietly."""

import logging
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import PurePosixPath

from django.core.files import File
from django.utils.text import get_valid_filename

from ..models import DownloadJob, item_storage

logger = logging.getLogger(__name__)

ARCHIVE_SPOOL_BYTES = 32 * 1024 * 1024


def archive_name(job: DownloadJob) -> str:
    return f"downloads/archives/{job.public_id}.zip"


def build_archive(job: DownloadJob, *, progress: Callable[[int], None]) -> tuple[list[int], int]:
    """Zip the job's files into private storage; returns the delivered item ids and the size.

    Rebuilt from scratch on every attempt (same name), so a retry after a crash is harmless.
    Items whose file is gone are skipped, and not charged. `progress(n)` is called after each
    song (the run's lease: it records progress, and raises to stop a run that was taken over).
    """
    storage = item_storage()
    entries = list(job.job_items.select_related("item").order_by("position"))
    delivered: list[int] = []
    with tempfile.SpooledTemporaryFile(max_size=ARCHIVE_SPOOL_BYTES) as tmp:
        # Stored, not deflated: audio and EA binaries are already compressed.
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as archive:
            for n, entry in enumerate(entries, start=1):
                item = entry.item
                suffix = PurePosixPath(item.file.name).suffix
                arcname = f"{entry.position:03d} - {get_valid_filename(item.title)[:80]}{suffix}"
                try:
                    with storage.open(item.file.name, "rb") as src, archive.open(arcname, "w") as dst:
                        shutil.copyfileobj(src, dst, 1024 * 1024)
                    delivered.append(item.pk)
                except (FileNotFoundError, OSError, ValueError):
                    logger.warning("Job %s: item #%s has no readable file, skipped", job.public_id, item.pk)
                progress(n)
        size = tmp.tell()
        tmp.seek(0)
        name = archive_name(job)
        if storage.exists(name):
            storage.delete(name)
        saved = storage.save(name, File(tmp, name=name))
        if saved != name:  # a concurrent attempt wrote the same name first; keep ours under its name
            logger.warning("Job %s: archive saved as %s", job.public_id, saved)
    return delivered, size


def delete_quietly(name: str) -> None:
    try:
        item_storage().delete(name)
    except OSError:
        logger.warning("Archive %s could not be deleted", name)
