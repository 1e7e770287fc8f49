from django.apps import AppConfig


class DownloadsConfig(AppConfig):
    name = "downloads"
    verbose_name = "Downloads"

    def ready(self) -> None:
        from core.events import Event, subscribe

        from . import checks, handlers  # noqa: F401  (importing checks registers the system checks)

        subscribe(Event.EA_REVIEWED, handlers.notify_ea_decision, name="downloads.notify_ea_decision")
        subscribe(Event.DOWNLOAD_JOB_QUEUED, handlers.queue_job_run, name="downloads.queue_job_run")
