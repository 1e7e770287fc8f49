"""The one JSON parser for API bodies, with the guards every body gets.

Checked before `json.loads` sees the body: nesting depth (Python's parser recurses per level, and
a body of 100,000 brackets either raises RecursionError or overflows the C stack where a library
raised the recursion limit). Checked while parsing: UTF-8, no NaN/Infinity/1e999 (not JSON, and no
amount is infinite). Checked after: no NUL and no unpaired surrogate in any string or key. Body
size is capped before any of this (core.middleware.BodyLimitMiddleware: 413).
"""

import json
import re
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from .errors import GoldbookError

MAX_JSON_DEPTH = 32
_JSON_STRUCTURE = re.compile(rb'["\\\[\]{}]')


class InvalidBody(GoldbookError, ValueError):
    status = 400
    code = "invalid_request"
    default_message = gettext_lazy("The request body is not valid JSON.")


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


def _finite(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise InvalidBody(_("Numbers in the request body must be finite."))
    return value


def _no_constants(name: str) -> Any:
    raise InvalidBody(_("%(name)s is not a JSON value.") % {"name": name})


def _check_text(value: Any) -> None:
    """No NUL (PostgreSQL text cannot hold it) and no lone surrogate (`"\\ud800"` is valid JSON
    but not text any database or UTF-8 encoder accepts), in keys and strings at any depth (depth
    is already bounded, so the recursion is too)."""
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidBody(_("Text in the request body may not contain NUL characters."))
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidBody(_("Text in the request body may not contain unpaired surrogates.")) from None
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key)
            _check_text(item)
    elif isinstance(value, list):
        for item in value:
            _check_text(item)


def parse_json_body(body: bytes) -> Any:
    """Parse a request body as JSON. Raises InvalidBody (a ValueError) for anything malformed,
    not UTF-8, nested deeper than MAX_JSON_DEPTH, holding a non-finite number, a NUL character or
    an unpaired surrogate."""
    if json_too_deep(body):
        raise InvalidBody(_("JSON nested deeper than %(depth)s levels.") % {"depth": MAX_JSON_DEPTH})
    try:
        text = body.decode("utf-8")
        parsed = json.loads(text, parse_float=_finite, parse_constant=_no_constants)
    except InvalidBody:
        raise
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidBody(_("The request body is not valid JSON: %(detail)s") % {"detail": exc}) from exc
    _check_text(parsed)
    return parsed


_PARSED = "_goldbook_parsed_json"


def request_json(request: HttpRequest) -> Any:
    """`parse_json_body(request.body)`, parsed once per request: token auth reads `session_token`
    from the body before django-ninja parses it for the endpoint's schema. Each caller gets its own
    copy of a dict body (ninja's validation may change what it gets). Raises InvalidBody."""
    parsed = request.__dict__.get(_PARSED)
    if parsed is None:
        parsed = request.__dict__[_PARSED] = parse_json_body(request.body)
    return dict(parsed) if isinstance(parsed, dict) else parsed
