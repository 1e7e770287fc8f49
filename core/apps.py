from django.apps import AppConfig


class CoreConfig(AppConfig):
    """The house's ground floor: the error family, the JSON body parser, domain events and their
    outbox, and the registry the site app reads. It knows no domain app; every app may import it."""

    name = "core"
    default_auto_field = "django.db.models.BigAutoField"
