"""Pages that compose several apps: the home page and the member's dashboard."""

import logging

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from accounts.requests import signed_in_member
from core.registry import DashboardPanel, panel_providers

from . import exports, selectors
from .forms import HistoryFilterForm

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
@require_safe
def dashboard(request: HttpRequest) -> HttpResponse:
    user = signed_in_member(request)
    cursor = request.GET.get("cursor") or None
    form = HistoryFilterForm(request.GET)
    # An invalid filter shows its errors above the unfiltered history (never a 500 or an empty page).
    filters = form.history_filter() if form.is_valid() else None
    try:
        page = selectors.history_page(user_id=user.pk, limit=HISTORY_PAGE_SIZE, cursor=cursor, filters=filters)
    except selectors.InvalidCursor:
        messages.warning(request, _("That history page link is not valid; showing your latest transactions."))
        return redirect("portal:dashboard")
    panels = dashboard_panels(request)
    keys = {p.key for p in panels}
    context = {
        "summary": selectors.account_summary(user_id=user.pk, email=user.email),
        "page": page,
        "cursor": cursor,
        "form": form,
        "panels": panels,
        "show_downloads_empty": "downloads" not in keys,
        "show_wallet_empty": "e9th_wallet" not in keys,
        "api_sessions": selectors.live_api_sessions(user_id=user.pk),
    }
    return render(request, "portal/dashboard.html", context)


@login_required
@require_safe
def history_csv(request: HttpRequest) -> HttpResponse | StreamingHttpResponse:
    """The signed-in member's own history (the dashboard's filter applies) as a CSV download."""
    user = signed_in_member(request)
    form = HistoryFilterForm(request.GET)
    if not form.is_valid():
        errors = "; ".join(str(e) for errs in form.errors.values() for e in errs)
        return render(request, "error.html", {"status": 400, "message": errors}, status=400)
    rows = selectors.history_rows(user_id=user.pk, filters=form.history_filter())
    lines = exports.history_csv(rows, tz=timezone.get_current_timezone(), language=get_language())
    response = StreamingHttpResponse(lines, content_type="text/csv; charset=utf-8")
    filename = f"history-{timezone.localdate():%Y-%m-%d}.csv"
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store"
    return response
