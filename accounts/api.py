"""JSON API of accounts. Token authentication shared by every app's router lives here."""

import json
from typing import Any

from django.http import HttpRequest
from ninja import Router
from ninja.security import HttpBearer

from . import services
from .selectors import api_session_for_token

router = Router(tags=["accounts"])


def _token_from_body(request: HttpRequest) -> str | None:
    if request.method in ("GET", "HEAD") or not request.body or len(request.body) > 1_000_000:
        return None
    try:
        data: Any = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        return None
    token = data.get("session_token") if isinstance(data, dict) else None
    return token if isinstance(token, str) else None


class TokenAuth(HttpBearer):
    """`Authorization: Bearer usr_…`, or `session_token` in the JSON body (as the seed API does).

    Never looks at the session cookie, which is why token endpoints can skip CSRF safely.
    `request.auth` becomes the `ApiSession`; `request.user` its user.
    """

    def __call__(self, request: HttpRequest) -> Any:
        header = request.headers.get("Authorization", "")
        if header[:7].lower() == "bearer ":
            return self.authenticate(request, header[7:].strip())
        token = _token_from_body(request)
        return self.authenticate(request, token) if token else None

    def authenticate(self, request: HttpRequest, token: str) -> Any:
        session = api_session_for_token(token)
        if session is None:
            return None
        services.api_session_touch(session=session)
        request.user = session.user
        return session


token_auth = TokenAuth()
