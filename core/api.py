"""The JSON API: one django-ninja instance; `config.api` adds each app's router to it.

Why django-ninja: it builds the OpenAPI document (`/api/openapi.json`) from the same type hints
that validate requests, so the document cannot drift from the code.

House rules for every endpoint:
- errors are `{"error": short code, "message": human sentence}` (plus fields a contract adds);
- money is a JSON number with the currency's places, written from `Decimal`, never a float;
- token endpoints never read the session cookie, so they need no CSRF token.
"""

import datetime as dt
import logging
from decimal import Decimal
from typing import Annotated, Any

import simplejson
from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser
from ninja.renderers import BaseRenderer
from pydantic import Field, WithJsonSchema

from core.errors import GoldbookError, error_body
from core.jsonbody import request_json
from core.middleware import Unavailable, error_response, too_large

logger = logging.getLogger(__name__)


class ApiError(GoldbookError):
    """A one-off API error built in place: `ApiError(status, code, message, **extra)`."""

    def __init__(self, status: int, error: str, message: str, **extra: Any) -> None:
        super().__init__(message, status=status, code=error, **extra)


def _json_default(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        if value.tzinfo is not None:
            value = value.astimezone(dt.UTC)
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, dt.date):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


class MoneyJSONRenderer(BaseRenderer):
    """JSON with Decimal written as a number, digit for digit (45.50 stays 45.50)."""

    media_type = "application/json"

    def render(self, request: HttpRequest, data: Any, *, response_status: int) -> str:
        return simplejson.dumps(data, use_decimal=True, default=_json_default)


class GuardedJSONParser(Parser):
    def parse_body(self, request: HttpRequest) -> Any:
        return request_json(request)


api = NinjaAPI(
    parser=GuardedJSONParser(),
    title="Goldbook API",
    version="1.0",
    description="Credits and coins: accounts, purchases, downloads and rewards.",
    renderer=MoneyJSONRenderer(),
    openapi_url="/openapi.json",
    docs_url="/docs",
    urls_namespace="api",
)


def _first_error(errors: list[dict[str, Any]]) -> str:
    if not errors:
        return _("The request is not valid.")
    err = errors[0]
    loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "payload", "query", "path")]
    where = ".".join(loc)
    msg = str(err.get("msg", _("is not valid")))
    return f"{where}: {msg}" if where else msg


@api.exception_handler(GoldbookError)
def _domain_error(request: HttpRequest, exc: GoldbookError) -> HttpResponse:
    response = api.create_response(request, error_body(exc), status=exc.status)
    if "retry_after" in exc.extra:  # throttled or paused: say when, in the header too
        response["Retry-After"] = str(exc.extra["retry_after"])
    return response


@api.exception_handler(OperationalError)
@api.exception_handler(InterfaceError)
def _database_unavailable(request: HttpRequest, exc: Exception) -> HttpResponse:
    # Also in DEBUG, where django-ninja would otherwise answer a traceback (core.middleware
    # answers the same for pages and for views outside the API).
    logger.error("%s %s: database unavailable: %s", request.method, request.path, exc)
    return error_response(request, Unavailable())


@api.exception_handler(RequestDataTooBig)
def _too_large(request: HttpRequest, exc: RequestDataTooBig) -> HttpResponse:
    return error_response(request, too_large(settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0))


@api.exception_handler(ValidationError)
def _validation_error(request: HttpRequest, exc: ValidationError) -> HttpResponse:
    errors = [{k: v for k, v in e.items() if k in ("loc", "msg", "type")} for e in exc.errors]
    return api.create_response(
        request, {"error": "invalid_request", "message": _first_error(errors), "details": errors}, status=400
    )


@api.exception_handler(AuthenticationError)
def _auth_error(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
    return api.create_response(
        request,
        {"error": "unauthorized", "message": _("A valid session_token is required. Sign in again.")},
        status=401,
    )


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
    if isinstance(exc.__cause__, GoldbookError):
        # ninja wraps what our body parser refused in its own English "Cannot parse request body":
        # answer with our reason instead, in the reader's language.
        return _domain_error(request, exc.__cause__)
    code = "invalid_request" if exc.status_code < 500 else "server_error"
    return api.create_response(request, {"error": code, "message": exc.message}, status=exc.status_code)


# A money field in a response schema: a Decimal the renderer writes as a JSON number. Pydantic
# would document a Decimal as a string; this says what the wire really carries.
Money = Annotated[Decimal, WithJsonSchema({"type": "number", "examples": [45.5]})]


class ErrorOut(Schema):
    """Every JSON error: a short code and a human sentence, plus fields some contracts add."""

    error: str
    message: str
    retry_after: int | None = Field(None, description="Seconds until a throttled request may be retried.")
    details: list[dict[str, Any]] | None = None


# What every token-authenticated endpoint can answer besides its own outcomes.
AUTH_ERRORS: dict[int, type[Schema]] = {400: ErrorOut, 401: ErrorOut}
