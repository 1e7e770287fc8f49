from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    """The house's ground floor: the error family, the JSON body parser, domain events and their
    outbox, and the registry the site app reads. It knows no domain app; every app may import it."""

    name = "core"
    verbose_name = _("Core")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth.signals import user_logged_out

        from .live import on_signed_out

        # A signed-out page's socket closes now, not at its next event (core/live.py).
        user_logged_out.connect(on_signed_out, dispatch_uid="core.live.signed_out")
