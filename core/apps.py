from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CoreConfig(AppConfig):
    """The house's ground floor: the error family, the JSON body parser, domain events and their
    outbox, and the registry the site app reads. It knows no domain app; every app may import it."""

    name = "core"
    verbose_name = _("Core")
    default_auto_field = "django.db.models.BigAutoField"
