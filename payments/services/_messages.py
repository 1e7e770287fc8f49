"""Raw provider messages (IPNs, poll answers, chain receipts): stored with their verification
result before anyone acts on them, so staff can see and re-process exactly what arrived."""

import hashlib
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from ..models import Provider, ProviderMessage


def digest(*parts: str | bytes) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part if isinstance(part, bytes) else part.encode())
        h.update(b"\x00")
    return h.hexdigest()


def store_message(
    *,
    provider: Provider,
    message_id: str,
    kind: ProviderMessage.Kind,
    payment_id: int | None,
    body: str,
    headers: dict[str, Any] | None,
    verified: bool,
    error: str = "",
) -> tuple[ProviderMessage, bool]:
    """Store a message raw with its verification result (committed before anyone acts on it).
    Returns (message, created); a duplicate returns the stored one."""
    # PostgreSQL text cannot hold NUL: a forger's binary body is kept, visibly escaped.
    body = body.replace("\x00", "\\x00")
    headers = {str(k): str(v).replace("\x00", "\\x00")[:500] for k, v in (headers or {}).items()}
    try:
        with transaction.atomic():
            msg, created = ProviderMessage.objects.get_or_create(
                provider=provider,
                message_id=message_id[:160],
                defaults={
                    "kind": kind,
                    "payment_id": payment_id,
                    "body": body,
                    "headers": headers or {},
                    "verified": verified,
                    "verification_error": error[:255],
                },
            )
    except IntegrityError:
        msg, created = ProviderMessage.objects.get(provider=provider, message_id=message_id[:160]), False
    return msg, created


def note_outcome(message_id: int | None, outcome: str) -> None:
    if message_id is not None:
        ProviderMessage.objects.filter(pk=message_id).update(outcome=outcome[:255], processed_at=timezone.now())
