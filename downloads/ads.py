"""The ad-completion token format, shared with the ad network. Pure functions, no models.

    token = base64url(json({"nonce": str, "user_ref": str, "issued_at": int})) + "." + hex_hmac

`hex_hmac` is HMAC-SHA256 over the base64url part (ASCII, unpadded) with ADS_HMAC_SECRET.
`user_ref` is the opaque reference Goldbook gave the network for the viewer
(`downloads.selectors.ad_user_ref`); `issued_at` is Unix seconds; `nonce` is 16-128 characters of
[A-Za-z0-9_-], unique per completed ad. Goldbook redeems each nonce once.
"""

import base64
import hashlib
import hmac
import json
import re
from dataclasses import dataclass

from django.utils.translation import gettext as _

NONCE_RE = re.compile(r"^[A-Za-z0-9_-]{16,128}$")
MAX_TOKEN_LENGTH = 1024


@dataclass(frozen=True)
class AdClaims:
    nonce: str
    user_ref: str
    issued_at: int


class MalformedToken(ValueError):
    pass


def _mac(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode("ascii"), hashlib.sha256).hexdigest()


def encode(*, claims: AdClaims, secret: str) -> str:
    """What the ad network does (used by tests, the bench and the demo)."""
    body = json.dumps({"nonce": claims.nonce, "user_ref": claims.user_ref, "issued_at": claims.issued_at})
    payload = base64.urlsafe_b64encode(body.encode()).decode().rstrip("=")
    return f"{payload}.{_mac(secret, payload)}"


def decode(*, token: str, secret: str) -> AdClaims:
    """Check the signature first, then the shape. Raises MalformedToken (never anything else)."""
    if not isinstance(token, str) or len(token) > MAX_TOKEN_LENGTH or token.count(".") != 1:
        raise MalformedToken(_("The ad token is not in the expected format."))
    payload, signature = token.split(".")
    try:
        payload.encode("ascii")
    except UnicodeEncodeError:
        raise MalformedToken(_("The ad token is not in the expected format.")) from None
    if not hmac.compare_digest(_mac(secret, payload), signature.lower()):
        raise MalformedToken(_("The ad token's signature does not match."))
    try:
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    except (ValueError, UnicodeDecodeError):
        raise MalformedToken(_("The ad token's payload is not valid JSON.")) from None
    if not isinstance(data, dict):
        raise MalformedToken(_("The ad token's payload is not an object."))
    nonce, user_ref, issued_at = data.get("nonce"), data.get("user_ref"), data.get("issued_at")
    if not isinstance(nonce, str) or not NONCE_RE.match(nonce):
        raise MalformedToken(_("The ad token's nonce is missing or malformed."))
    if not isinstance(user_ref, str) or not 1 <= len(user_ref) <= 64:
        raise MalformedToken(_("The ad token's user_ref is missing or malformed."))
    if not isinstance(issued_at, int) or isinstance(issued_at, bool):
        raise MalformedToken(_("The ad token's issued_at is missing or malformed."))
    return AdClaims(nonce=nonce, user_ref=user_ref, issued_at=issued_at)
