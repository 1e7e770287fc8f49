from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse
from django.utils.translation import gettext, gettext_noop

# The default money name, so the catalogue carries it; a site that names its money otherwise
# (GOLDBOOK_CURRENCY_NAME) adds its own name to /locale to have it translated.
gettext_noop("Credits")


def site(request: HttpRequest) -> dict[str, object]:
    """What every page may use: the site's and the currency's names (the currency's translated),
    and the addresses of the dashboard (the site app's page), the recharge page and the member's
    settings page, so one app's page links another app's without naming it (apps on one floor do
    not know each other)."""
    return {
        "site_name": settings.GOLDBOOK_SITE_NAME,
        "currency_name": gettext(settings.GOLDBOOK_CURRENCY_NAME),
        "dashboard_url": reverse("portal:dashboard"),
        "recharge_url": reverse("payments:recharge"),
        "settings_url": reverse("accounts:settings"),
    }
