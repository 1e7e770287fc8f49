"""Pages that compose several apps: the home page and the member's dashboard."""

import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from accounts.requests import signed_in_member
from core.registry import DashboardPanel, panel_providers

from . import selectors

logger = logging.getLogger(__name__)

HISTORY_PAGE_SIZE = 20


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html")


def dashboard_panels(request: HttpRequest) -> list[DashboardPanel]:
    """The panels the apps declare (core.registry), in order. One app's broken panel is logged and
    left out rather than taking the dashboard down."""
    panels: list[DashboardPanel] = []
    for app_label, provider in panel_providers():
        try:
            panels.extend(provider(request))
        except Exception:
            logger.exception("Dashboard: the panels of %s failed", app_label)
    return sorted(panels, key=lambda p: (p.order, p.key))


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    user = signed_in_member(request)
    cursor = request.GET.get("cursor") or None
    try:
        page = selectors.history_page(user_id=user.pk, limit=HISTORY_PAGE_SIZE, cursor=cursor)
    except selectors.InvalidCursor:
        messages.warning(request, _("That history page link is not valid; showing your latest transactions."))
        return redirect("portal:dashboard")
    panels = dashboard_panels(request)
    keys = {p.key for p in panels}
    context = {
        "summary": selectors.account_summary(user_id=user.pk, email=user.email),
        "page": page,
        "cursor": cursor,
        "panels": panels,
        "show_downloads_empty": "downloads" not in keys,
        "show_wallet_empty": "e9th_wallet" not in keys,
        "api_sessions": selectors.live_api_sessions(user_id=user.pk),
    }
    return render(request, "portal/dashboard.html", context)
