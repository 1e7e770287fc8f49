"""Answers for a request the site cannot serve, instead of a traceback or an HTML 500.

- A body larger than DATA_UPLOAD_MAX_MEMORY_SIZE (a multipart upload: GOLDBOOK_MAX_UPLOAD_BODY_BYTES):
  413 before any view reads it (a provider that
  gets a 5xx retries forever; a 413 tells it the message itself is wrong).
- The database unreachable or its connection lost mid-request (a restart, a failover): 503 with
  Retry-After. Nothing half-done is committed: every money operation is one transaction, so the
  client may retry (with the same idempotency key where the endpoint takes one).
- A domain refusal (a 4xx GoldbookError) that no view mapped, e.g. a member on hold for review
  refused by the wallet on any spending path: its status and its sentence, never a 500.

JSON for /api/ and provider callbacks, a plain page for members. The page is standalone (no
base template): the header's balance would need the database that is down.
"""

import logging
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string
from django.utils import translation
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from .errors import GoldbookError, error_body

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 30
# Clients that read JSON, not pages: the API, the provider's callback, the pages' status polls.
_MACHINE_PREFIXES = ("/api/", "/payments/coinpayments/ipn/")


class BodyTooLarge(GoldbookError):
    status = 413
    code = "too_large"
    default_message = _("The request body is too large.")


class Unavailable(GoldbookError):
    status = 503
    code = "unavailable"
    default_message = _("The service is briefly unavailable. Try again in a minute.")


def _wants_json(request: HttpRequest) -> bool:
    path = request.path
    return path.startswith(_MACHINE_PREFIXES) or path.endswith(".json") or "json" in request.headers.get("Accept", "")


def error_response(request: HttpRequest, exc: GoldbookError) -> HttpResponse:
    if _wants_json(request):
        response: HttpResponse = JsonResponse(error_body(exc), status=exc.status)
    else:
        context = {"status": exc.status, "message": exc.message, "site_name": settings.GOLDBOOK_SITE_NAME}
        page = render_to_string("error.html", context, request=None)
        response = HttpResponse(page, status=exc.status)
    if exc.status == 503:
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def too_large(limit: int) -> BodyTooLarge:
    return BodyTooLarge(
        gettext("The request body is larger than %(limit)s bytes.") % {"limit": f"{limit:,}"}, limit=limit
    )


class BodyLimitMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # Form uploads stream their files to disk (Django's upload handlers; downloads caps each
        # file while it streams), so they get the whole-body limit the proxy also enforces; every
        # other body is read into memory and gets DATA_UPLOAD_MAX_MEMORY_SIZE.
        if request.META.get("CONTENT_TYPE", "").startswith("multipart/form-data"):
            limit = settings.GOLDBOOK_MAX_UPLOAD_BODY_BYTES
        else:
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0  # Django answers a malformed Content-Length itself
        if limit is not None and length > limit:
            # Before LocaleMiddleware: answer in the language the client asks for all the same.
            with translation.override(translation.get_language_from_request(request)):
                return error_response(request, too_large(limit))
        return self.get_response(request)


class ServiceUnavailableMiddleware:
    """Innermost: turns what a view raised into 413/503 answers (see the module docstring)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if isinstance(exception, RequestDataTooBig):  # a chunked body with no Content-Length
            return error_response(request, too_large(settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0))
        if isinstance(exception, OperationalError | InterfaceError):
            logger.error("%s %s: database unavailable: %s", request.method, request.path, exception)
            return error_response(request, Unavailable())
        if isinstance(exception, GoldbookError) and 400 <= exception.status < 500:
            return error_response(request, exception)
        return None
