"""The member's settings page and the language switcher (which also saves the choice)."""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django.views.i18n import set_language as django_set_language

from . import services
from .models import User
from .preferences import MemberSettingsForm
from .requests import signed_in_member


def _remember_language(response: HttpResponse, language: str) -> None:
    """The language cookie follows the saved choice, so the page stays in it after signing out;
    "follow my browser" forgets it, or the cookie would still beat Accept-Language."""
    if language:
        # The same cookie Django's set_language writes, with the same LANGUAGE_COOKIE_* settings.
        response.set_cookie(
            settings.LANGUAGE_COOKIE_NAME,
            language,
            max_age=settings.LANGUAGE_COOKIE_AGE,
            path=settings.LANGUAGE_COOKIE_PATH,
            domain=settings.LANGUAGE_COOKIE_DOMAIN,
            secure=settings.LANGUAGE_COOKIE_SECURE,
            httponly=settings.LANGUAGE_COOKIE_HTTPONLY,
            samesite=settings.LANGUAGE_COOKIE_SAMESITE,
        )
    else:
        response.delete_cookie(
            settings.LANGUAGE_COOKIE_NAME, path=settings.LANGUAGE_COOKIE_PATH, domain=settings.LANGUAGE_COOKIE_DOMAIN
        )


@login_required
def member_settings(request: HttpRequest) -> HttpResponse:
    user = signed_in_member(request)
    form = MemberSettingsForm(request.POST if request.method == "POST" else None, user=user)
    if not form.is_valid():
        status = 400 if request.method == "POST" else 200
        return render(request, "accounts/settings.html", {"form": form}, status=status)
    services.preferences_update(user=user, **form.cleaned_data)
    if user.language:
        translation.activate(user.language)  # the success message in the language just chosen
    messages.success(request, _("Your settings are saved."))
    response = redirect("accounts:settings")
    _remember_language(response, user.language)
    return response


@require_POST
def set_language(request: HttpRequest) -> HttpResponse:
    """Django's set_language (language cookie, `next` checked against this host), plus, for a
    signed-in member, the choice saved to their settings so it follows them to other devices."""
    response = django_set_language(request)
    language = request.POST.get("language", "")
    user = request.user
    if isinstance(user, User) and language in dict(settings.LANGUAGES) and translation.check_for_language(language):
        services.preferences_update(user=user, language=language)
    return response
