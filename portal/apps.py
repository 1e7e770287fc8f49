from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PortalConfig(AppConfig):
    """The site on top: the home page, the member's dashboard, the `/api/users/*` endpoints and
    demo data — everything that composes several apps. It imports the others; none imports it.
    What it composes, each app declares in its own AppConfig.ready() (see core.registry)."""

    name = "portal"
    verbose_name = _("Site")
