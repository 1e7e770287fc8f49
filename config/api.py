"""The JSON API: one django-ninja instance, each app adds its router.

Why django-ninja: it builds the OpenAPI document (`/api/openapi.json`) from the same type hints
that validate requests, so the document cannot drift from the code.

House rules for every endpoint:
- errors are `{"error": short code, "message": human sentence}` (plus fields a contract adds);
- money is a JSON number with the currency's places, written from `Decimal`, never a float;
- token endpoints never read the session cookie, so they need no CSRF token.
"""

import datetime as dt
import json
import re
from decimal import Decimal
from typing import Annotated, Any

import simplejson
from django.http import HttpRequest, HttpResponse
from ninja import NinjaAPI, Schema
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.parser import Parser
from ninja.renderers import BaseRenderer
from pydantic import Field, WithJsonSchema


class ApiError(Exception):
    """Raise from a handler to answer `{"error", "message", **extra}` with `status`."""

    def __init__(self, status: int, error: str, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.error = error
        self.message = message
        self.extra = extra


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


# No API body has any business nesting deeper than this. Checking before parsing matters: Python's
# json parser recurses per level, and a body of 100,000 brackets either raises RecursionError or,
# where a library has raised the recursion limit, overflows the C stack and kills the worker.
MAX_JSON_DEPTH = 32
_JSON_STRUCTURE = re.compile(rb'["\\\[\]{}]')


def json_too_deep(body: bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """True when `body` nests arrays/objects deeper than `limit` (strings and escapes honoured)."""
    depth, in_string, skip_to = 0, False, -1
    for match in _JSON_STRUCTURE.finditer(body):
        pos = match.start()
        if pos < skip_to:
            continue
        char = body[pos]
        if in_string:
            if char == 0x5C:  # backslash: the next byte is escaped
                skip_to = pos + 2
            elif char == 0x22:
                in_string = False
        elif char == 0x22:
            in_string = True
        elif char in (0x5B, 0x7B):
            depth += 1
            if depth > limit:
                return True
        elif char in (0x5D, 0x7D):
            depth -= 1
    return False


def parse_json_body(body: bytes) -> Any:
    """Parse a request body as JSON; ValueError for anything malformed or nested too deeply."""
    if json_too_deep(body):
        raise ValueError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels.")
    return json.loads(body)


_PARSED = "_goldbook_parsed_json"


def request_json(request: HttpRequest) -> Any:
    """`parse_json_body(request.body)`, parsed once per request: token auth reads `session_token`
    from the body before django-ninja parses it for the endpoint's schema.

    Each caller gets its own copy of a dict body (ninja's validation may change what it gets).
    Raises ValueError (also UnicodeDecodeError) like `parse_json_body`.
    """
    parsed = request.__dict__.get(_PARSED)
    if parsed is None:
        parsed = request.__dict__[_PARSED] = parse_json_body(request.body)
    return dict(parsed) if isinstance(parsed, dict) else parsed


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
        return "The request is not valid."
    err = errors[0]
    loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "payload", "query", "path")]
    where = ".".join(loc)
    msg = str(err.get("msg", "is not valid"))
    return f"{where}: {msg}" if where else msg


@api.exception_handler(ApiError)
def _api_error(request: HttpRequest, exc: ApiError) -> HttpResponse:
    return api.create_response(request, {"error": exc.error, "message": exc.message, **exc.extra}, status=exc.status)


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
        {"error": "unauthorized", "message": "A valid session_token is required. Sign in again."},
        status=401,
    )


@api.exception_handler(HttpError)
def _http_error(request: HttpRequest, exc: HttpError) -> HttpResponse:
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


api.add_router("/", "accounts.api.router")
api.add_router("/", "downloads.api.router")
api.add_router("/", "payments.api.router")
api.add_router("/", "rewards.api.router")
