"""Signed forum requests: the integration whose secret signed "<X-Goldbook-Timestamp>." + the raw
body (one event or a whole batch), within the allowed clock skew."""

import hashlib
import hmac
import time

from django.conf import settings
from django.http import HttpRequest

from .errors import BadSignature
from .models import Integration

_DUMMY_SECRET = b"rewards-unknown-integration"


def _fresh_timestamp(request: HttpRequest) -> str | None:
    """X-Goldbook-Timestamp when it is Unix seconds within the allowed skew of our clock."""
    stamp = request.headers.get("X-Goldbook-Timestamp", "").strip()
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12):
        return None
    tolerance = settings.REWARDS_EVENT_SIGNATURE_TOLERANCE_SECONDS
    return stamp if abs(time.time() - int(stamp)) <= tolerance else None


def check_signature(request: HttpRequest) -> Integration:
    """The integration whose secret signed "<X-Goldbook-Timestamp>." + the raw body, the
    timestamp within `REWARDS_EVENT_SIGNATURE_TOLERANCE_SECONDS` (5 min) of our clock, so a
    captured request cannot be replayed later. Raises BadSignature (401)."""
    name = request.headers.get("X-Goldbook-Integration", "").strip()
    signature = request.headers.get("X-Goldbook-Signature", "").strip()
    stamp = _fresh_timestamp(request)
    integration = Integration.objects.filter(name=name, is_active=True).first() if 0 < len(name) <= 64 else None
    # Compute a digest even for an unknown integration so timing does not tell names apart.
    secret = integration.secret.encode() if integration else _DUMMY_SECRET
    expected = hmac.new(secret, (stamp or "").encode() + b"." + request.body, hashlib.sha256).hexdigest()
    given = signature[7:].lower() if signature[:7].lower() == "sha256=" else ""
    if integration is None or stamp is None or not hmac.compare_digest(expected, given):
        raise BadSignature()
    return integration
