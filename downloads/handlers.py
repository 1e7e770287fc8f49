"""What downloads does when an event it cares about is delivered (see core/events.py).

Both handlers are safe to run again: a job's run does nothing once the job is finished, and the
outbox marks the email handler done per event, so the email goes again only if a worker dies
between sending it and that mark.
"""

from core.events import Delivered

from . import notifications
from .tasks import run_download_job


def notify_ea_decision(event: Delivered) -> None:
    """Email the uploader the staff decision on their EA (Event.EA_REVIEWED)."""
    notifications.ea_decision(item_id=int(event.payload["item_id"]), verified=bool(event.payload["verified"]))


def queue_job_run(event: Delivered) -> None:
    """Queue the job's run (Event.DOWNLOAD_JOB_QUEUED). If the broker refuses, this raises and
    the outbox retries later; the run itself is idempotent under the job's row lock."""
    run_download_job.delay(int(event.payload["job_id"]))
