import logging
from typing import Any

from allauth.account.views import LoginView
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from . import selectors, services
from .app_hooks import app_modules

logger = logging.getLogger(__name__)

HISTORY_PAGE_SIZE = 20


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html")


class PinLoginView(LoginView):
    """allauth's sign-in page, answering 429 (with Retry-After) when throttled and a clear
    "account locked" page (423) when locked."""

    def form_invalid(self, form: Any) -> HttpResponse:
        refusal = getattr(form, "refusal", None)
        if isinstance(refusal, services.AccountLocked):
            context = {"message": str(refusal), "lockout_after": settings.GOLDBOOK_PIN_LOCKOUT_AFTER}
            return render(self.request, "account/locked.html", context, status=423)
        response = super().form_invalid(form)
        if isinstance(refusal, services.PinThrottled):
            response.status_code = 429
            response["Retry-After"] = str(refusal.retry_after)
        return response


def dashboard_panels(request: HttpRequest) -> list[dict[str, Any]]:
    """Panels other apps contribute through `<app>/dashboard.py: panels(request)`, in order.

    One app's broken panel is logged and left out rather than taking the dashboard down.
    """
    panels: list[dict[str, Any]] = []
    for config, module in app_modules("dashboard"):
        try:
            panels.extend(module.panels(request))
        except Exception:
            logger.exception("Dashboard: panels() of %s failed", config.name)
    return sorted(panels, key=lambda p: p.get("order", 100))


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    user = request.user
    summary = selectors.account_summary(user_id=user.pk, email=user.email)
    cursor = request.GET.get("cursor") or None
    try:
        page = selectors.history_page(user_id=user.pk, limit=HISTORY_PAGE_SIZE, cursor=cursor)
    except selectors.InvalidCursor:
        messages.warning(request, "That history page link is not valid; showing your latest transactions.")
        return redirect("accounts:dashboard")
    panels = dashboard_panels(request)
    keys = {p.get("key") for p in panels}
    context = {
        "summary": summary,
        "page": page,
        "cursor": cursor,
        "panels": panels,
        "show_downloads_empty": "downloads" not in keys,
        "show_wallet_empty": "e9th_wallet" not in keys,
        "api_sessions": user.api_sessions.filter(revoked_at__isnull=True).count(),  # type: ignore[attr-defined]
    }
    return render(request, "accounts/dashboard.html", context)


@login_required
@require_POST
def sign_out_others(request: HttpRequest) -> HttpResponse:
    web, api_tokens = services.sessions_end_others(user=request.user, keep_session_key=request.session.session_key)  # type: ignore[arg-type]
    messages.success(
        request,
        f"Signed out of {web} other browser session{'s' if web != 1 else ''} "
        f"and {api_tokens} app session{'s' if api_tokens != 1 else ''}.",
    )
    return redirect("accounts:dashboard")
