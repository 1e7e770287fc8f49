from django.conf import settings
from django.http import HttpRequest
from django.urls import reverse


def site(request: HttpRequest) -> dict[str, object]:
    """What every page may use: the site's and the currency's names, and the dashboard's address
    (the site app's page) and the recharge page's, so one app's page links another app's without
    naming it (apps on one floor do not know each other)."""
    return {
        "site_name": settings.GOLDBOOK_SITE_NAME,
        "currency_name": settings.GOLDBOOK_CURRENCY_NAME,
        "dashboard_url": reverse("portal:dashboard"),
        "recharge_url": reverse("payments:recharge"),
    }
