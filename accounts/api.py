"""Token authentication and the identity pieces of the JSON API, shared by every router:
`from accounts.api import token_auth`. The `/api/users/*` endpoints, which answer with balances
from several apps, live in the site app (`portal.api`)."""

import re
from typing import Annotated, Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import validate_email
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import Field, Schema
from ninja.security import HttpBearer
from pydantic import AfterValidator, StringConstraints, WithJsonSchema, model_validator

from core.api import api
from core.jsonbody import request_json

from . import services, throttle
from .models import ApiSession
from .selectors import api_session_for_token
from .validators import is_pin

# --- token auth -------------------------------------------------------------------------------


def _token_from_body(request: HttpRequest) -> str | None:
    if request.method in ("GET", "HEAD") or not request.body or len(request.body) > 1_000_000:
        return None
    try:
        data: Any = request_json(request)
    except (ValueError, UnicodeDecodeError):
        return None
    token = data.get("session_token") if isinstance(data, dict) else None
    return token if isinstance(token, str) else None


class TokenAuth(HttpBearer):
    """`Authorization: Bearer usr_…`, or `session_token` in the JSON body (as the seed API does).

    Never looks at the session cookie, which is why token endpoints can skip CSRF safely.
    `request.auth` becomes the `ApiSession`; `request.user` its user. A subclass may look the
    token up together with more (`lookup`), as the balance endpoint does.
    """

    def __call__(self, request: HttpRequest) -> Any:
        header = request.META.get("HTTP_AUTHORIZATION", "")  # request.headers would copy every header
        if header[:7].lower() == "bearer ":
            return self.authenticate(request, header[7:].strip())
        token = _token_from_body(request)
        return self.authenticate(request, token) if token else None

    def lookup(self, request: HttpRequest, token: str) -> ApiSession | None:
        return api_session_for_token(token)

    def authenticate(self, request: HttpRequest, token: str) -> ApiSession | None:
        session = self.lookup(request, token)
        if session is None:
            return None
        services.api_session_touch(session=session)
        request.user = session.user
        return session


token_auth = TokenAuth()


def api_session(request: HttpRequest) -> ApiSession:
    """The ApiSession token auth put on the request (only call behind `auth=token_auth`)."""
    session = request.auth  # type: ignore[attr-defined]  # set by django-ninja's auth
    assert isinstance(session, ApiSession)  # noqa: S101
    return session


# --- schemas ----------------------------------------------------------------------------------


def _pin(value: str) -> str:
    # The pattern already says so; fullmatch also refuses a trailing newline ("1234\n").
    if not is_pin(value):
        raise ValueError(_("the PIN must be a string of 4 to 6 digits (0-9)"))
    return value


def _email(value: str) -> str:
    value = value.strip()
    try:
        validate_email(value)
    except DjangoValidationError:
        raise ValueError(_("not a valid email address")) from None
    return value.lower()


Pin = Annotated[str, StringConstraints(strict=True, pattern=r"^[0-9]{4,6}$"), AfterValidator(_pin)]
Email = Annotated[
    str,
    StringConstraints(strict=True, min_length=3, max_length=254),
    AfterValidator(_email),
    WithJsonSchema({"type": "string", "format": "email", "maxLength": 254, "examples": ["member@example.com"]}),
]
SessionToken = Annotated[str | None, Field(None, max_length=200, description="Or send `Authorization: Bearer …`.")]


class JsonObjectIn(Schema):
    """A request body that must be a JSON object (ninja's Schema would read a list or `null`
    as an object with every field at its default)."""

    @model_validator(mode="before")
    @classmethod
    def _must_be_an_object(cls, data: Any) -> Any:
        if not isinstance(getattr(data, "_obj", data), dict):  # ninja hands over a DjangoGetter
            raise ValueError(_("the request body must be a JSON object"))
        return data


# --- shared answers ---------------------------------------------------------------------------


def throttled_response(
    request: HttpRequest, refusal: throttle.Refusal | services.PinThrottled, message: str
) -> HttpResponse:
    """429 with `retry_after` in the body and the Retry-After header."""
    body = {"error": "too_many_attempts", "message": message, "retry_after": refusal.retry_after}
    response = api.create_response(request, body, status=429)
    response["Retry-After"] = str(refusal.retry_after)
    return response


def user_agent(request: HttpRequest) -> str:
    return re.sub(r"[\x00-\x1f\x7f]", "", request.headers.get("User-Agent", ""))[:255]
