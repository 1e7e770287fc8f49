"""A signed-in member's saved display preferences, applied to every request they make.

LocaleMiddleware (before this one) has already picked a language from the language cookie or
Accept-Language; a member's saved `language` overrides it, and a blank one lets it stand. The
time zone is the member's, else the site's GOLDBOOK_DEFAULT_TIME_ZONE, so every date a page shows
(`{{ value }}`, `|date`, `|naturaltime`) is local time for the reader. Anonymous visitors get the
site default time zone too.
"""

from collections.abc import Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone, translation

from .models import User


def zone_for(user: object) -> ZoneInfo:
    """The member's time zone, else the site default (a stored name that no longer exists falls
    back to the default rather than breaking every page)."""
    name = user.time_zone if isinstance(user, User) and user.time_zone else settings.GOLDBOOK_DEFAULT_TIME_ZONE
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(settings.GOLDBOOK_DEFAULT_TIME_ZONE)


class MemberPreferencesMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if isinstance(user, User) and user.language:
            translation.activate(user.language)
            request.LANGUAGE_CODE = translation.get_language()
        timezone.activate(zone_for(user))
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
