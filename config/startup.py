"""What both server entry points (config.wsgi, config.asgi) check before serving a request."""

from django.core.exceptions import ImproperlyConfigured


def refuse_the_development_key() -> None:
    """Refuse to start outside DEBUG with the development SECRET_KEY (issue 11 item 16): that key
    is published in this repository, so sessions, PIN-recovery links and CSRF tokens signed with
    it could be forged by anyone."""
    from django.conf import settings

    from config.settings import INSECURE_DEV_SECRET_KEY

    if not settings.DEBUG and settings.SECRET_KEY == INSECURE_DEV_SECRET_KEY:
        raise ImproperlyConfigured(
            "SECRET_KEY is the published development key and DEBUG is off: set SECRET_KEY to a random "
            "value of at least 50 characters (or DEBUG=true on a development machine)."
        )
