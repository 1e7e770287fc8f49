import logging
from typing import Any

from allauth.account.views import LoginView
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from . import services
from .requests import signed_in_member

logger = logging.getLogger(__name__)


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


@login_required
@require_POST
def sign_out_others(request: HttpRequest) -> HttpResponse:
    web, api_tokens = services.sessions_end_others(
        user=signed_in_member(request), keep_session_key=request.session.session_key
    )
    messages.success(
        request,
        f"Signed out of {web} other browser session{'s' if web != 1 else ''} "
        f"and {api_tokens} app session{'s' if api_tokens != 1 else ''}.",
    )
    return redirect(settings.LOGIN_REDIRECT_URL)  # the dashboard, where the button is
