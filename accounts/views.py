import logging
from typing import Any

from allauth.account.views import (
    EmailView,
    LoginView,
    PasswordChangeView,
    PasswordResetFromKeyView,
    PasswordResetView,
    SignupView,
)
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from core.errors import join_sentences

from . import services, throttle
from .requests import signed_in_member

logger = logging.getLogger(__name__)

# What a member reads on the page, by what they were trying to do.
_COUNTERS_DOWN: tuple[type[Exception], ...] = (throttle.CountersUnavailable, *throttle.CACHE_ERRORS)
_PAUSED = {
    "login": _("Signing in is paused"),
    "signup": _("Creating an account is paused"),
    "reset": _("PIN recovery is paused"),
    "change": _("Changing your PIN is paused"),
    "email": _("Changing your email is paused"),
}


class FailClosedWithoutCounters:
    """allauth's sign-in, sign-up and PIN-recovery pages count attempts in the cache (Redis).
    When it cannot be reached they answer a 503 page saying so, rather than run without the
    counters (a PIN could be guessed) or show a server error."""

    paused: str = "login"

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return super().dispatch(request, *args, **kwargs)  # type: ignore[misc]
        except _COUNTERS_DOWN as exc:
            logger.warning("Sign-in pages: answering 503, the attempt counters cannot be reached: %s", exc)
            retry_after = settings.GOLDBOOK_REDIS_RETRY_AFTER
            context = {"what": _PAUSED[self.paused], "minutes": throttle.minutes(retry_after)}
            response = render(request, "account/unavailable.html", context, status=503)
            response["Retry-After"] = str(retry_after)
            return response


class AnswersPinRefusals:
    """A page whose form checks a PIN through `services.pin_check` answers 429 (with
    Retry-After) when throttled and a clear "account locked" page (423) when locked."""

    request: HttpRequest

    def form_invalid(self, form: Any) -> HttpResponse:
        refusal = getattr(form, "refusal", None)
        if isinstance(refusal, services.AccountLocked):
            context = {"message": str(refusal), "lockout_after": settings.GOLDBOOK_PIN_LOCKOUT_AFTER}
            return render(self.request, "account/locked.html", context, status=423)
        response: HttpResponse = super().form_invalid(form)  # type: ignore[misc]
        if isinstance(refusal, services.PinThrottled):
            response.status_code = 429
            response["Retry-After"] = str(refusal.retry_after)
        return response


class PinLoginView(FailClosedWithoutCounters, AnswersPinRefusals, LoginView):
    """allauth's sign-in page, with the PIN refusals answered."""


class PinSignupView(FailClosedWithoutCounters, SignupView):
    paused = "signup"


class PinResetRequestView(FailClosedWithoutCounters, PasswordResetView):
    paused = "reset"


def _signed_out_message(request: HttpRequest, signed_out: tuple[int, int], *, new_pin: bool = False) -> None:
    web, api_tokens = signed_out
    browsers = ngettext(
        "Signed out of %(count)s other browser session", "Signed out of %(count)s other browser sessions", web
    ) % {"count": web}
    apps = ngettext("and %(count)s app session.", "and %(count)s app sessions.", api_tokens) % {"count": api_tokens}
    why = gettext("Your new PIN works from now on; anyone who had the old one is shut out.") if new_pin else ""
    messages.success(request, join_sentences(why, browsers, apps))


class NewPinEndsSessions:
    """A view whose form sets a new PIN (and ends the other sessions): the form gets the request,
    and the page says how many sessions were signed out."""

    request: HttpRequest

    def get_form_kwargs(self) -> dict[str, Any]:
        return {**super().get_form_kwargs(), "request": self.request}  # type: ignore[misc]

    def form_valid(self, form: Any) -> HttpResponse:
        response = super().form_valid(form)  # type: ignore[misc]
        _signed_out_message(self.request, form.signed_out, new_pin=True)
        return response


class PinResetFromKeyView(FailClosedWithoutCounters, NewPinEndsSessions, PasswordResetFromKeyView):
    """Recovery: the new PIN signs the member out everywhere, and the page says so."""

    paused = "reset"


class PinChangeView(FailClosedWithoutCounters, AnswersPinRefusals, NewPinEndsSessions, PasswordChangeView):
    """The current PIN is checked like a sign-in (forms.PinChangeForm), refusals answered alike."""

    paused = "change"


class EmailManageView(FailClosedWithoutCounters, EmailView):
    paused = "email"


@login_required
@require_POST
def sign_out_others(request: HttpRequest) -> HttpResponse:
    signed_out = services.sessions_end_others(
        user=signed_in_member(request), keep_session_key=request.session.session_key
    )
    _signed_out_message(request, signed_out)
    return redirect(settings.LOGIN_REDIRECT_URL)  # the dashboard, where the button is
