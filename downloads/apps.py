from django.apps import AppConfig


class DownloadsConfig(AppConfig):
    name = "downloads"
    verbose_name = "Downloads"

    def ready(self) -> None:
        from core import registry
        from core.events import Event, subscribe

        from . import (
            checks,  # noqa: F401  (registers the system checks)
            dashboard,
            demo,
            handlers,
        )
        from .models import DownloadJob, DownloadRecord

        registry.register_dashboard_panels("downloads", dashboard.panels)
        registry.register_demo_data("downloads", demo.seed)
        registry.register_history_details(DownloadJob, DownloadJob.history_fields)
        registry.register_history_details(DownloadRecord, DownloadRecord.history_fields, related=("item",))

        subscribe(Event.EA_REVIEWED, handlers.notify_ea_decision, name="downloads.notify_ea_decision")
        subscribe(Event.DOWNLOAD_JOB_QUEUED, handlers.queue_job_run, name="downloads.queue_job_run")
