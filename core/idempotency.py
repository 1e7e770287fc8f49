"""The `Idempotency-Key` header of every POST that spends or buys.

A client that did not get an answer (timeout, dropped connection, a 5xx after commit) retries
with the same key and gets the same result: the same job, payment, redemption or bounty, charged
once. The key is kept where the money row is created (a unique (member, key) on that row), not
in a cache of HTTP answers, so a crash between commit and answer still finds the object on
retry. Keys are scoped per member and per endpoint; the same key with a different request is a
409 `idempotency_conflict`.

This module only reads and checks the key; each app stores it on its own row.
"""

import hashlib
import json
from typing import Annotated, Any, cast

from django.utils.translation import gettext_lazy as _
from ninja import Header

from .errors import GoldbookError

MAX_KEY_LENGTH = 100
KEY_PATTERN = r"^[ -~]{1,100}$"  # printable ASCII, as the IETF draft's examples and Stripe's keys

# The header as an endpoint parameter: `idempotency_key: IdempotencyKeyHeader = None`.
IdempotencyKeyHeader = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        pattern=KEY_PATTERN,  # checked by the API too: a bad key is a 400 invalid_request
        description=(
            "1 to 100 printable ASCII characters, unique per request you mean. Retrying with the same "
            "key returns the first result and charges once; the same key with a different request "
            "is a 409 idempotency_conflict."
        ),
    ),
]


class InvalidIdempotencyKey(GoldbookError):
    status = 400
    code = "invalid_request"
    default_message = _("Idempotency-Key must be 1 to 100 printable ASCII characters.")


class IdempotencyConflict(GoldbookError):
    status = 409
    code = "idempotency_conflict"
    # Typed str (lazy at run time): payments and downloads subclass these with a plain-str default.
    default_message = cast(str, _("This Idempotency-Key was already used for a different request."))


class IdempotencyInProgress(GoldbookError):
    status = 409
    code = "idempotency_in_progress"
    default_message = cast(
        str, _("The first request with this Idempotency-Key is still being processed; retry shortly.")
    )


def _valid(key: str) -> bool:
    return 1 <= len(key) <= MAX_KEY_LENGTH and all(" " <= ch <= "~" for ch in key)


def clean_key(header: str | None, body: str | None = None) -> str | None:
    """The request's key: the header, or the body's `idempotency_key` where an endpoint had one
    before the header (the header is an alias and both must agree; the body field keeps the
    rules its schema always had). None when neither is given. Raises InvalidIdempotencyKey (400)."""
    if header is not None and not _valid(header):
        raise InvalidIdempotencyKey()
    if header is not None and body is not None and header != body:
        raise InvalidIdempotencyKey(_("The Idempotency-Key header and the body's idempotency_key differ."))
    return header if header is not None else body


def fingerprint(**fields: Any) -> str:
    """A digest of what a request asked for, stored next to its key: a retry must ask the same."""
    text = json.dumps(fields, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
