"""Writes for accounts: API sessions (sign-in, PIN and throttling land with the accounts work)."""

import hashlib
import secrets
from datetime import timedelta

from django.db import transaction
from django.utils import timezone

from .models import ApiSession, User

API_SESSION_TTL = timedelta(days=30)
# Sliding expiry without a write on every request: refresh at most once a minute.
API_SESSION_TOUCH_EVERY = timedelta(seconds=60)
TOKEN_PREFIX = "usr_"


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def api_session_create(*, user: User, ip: str | None, user_agent: str) -> tuple[ApiSession, str]:
    """Open an API session; returns it and the raw token, which is never stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = timezone.now()
    session = ApiSession.objects.create(
        user=user,
        token_digest=token_digest(token),
        last_used_at=now,
        expires_at=now + API_SESSION_TTL,
        ip=ip,
        user_agent=user_agent[:255],
    )
    return session, token


def api_session_touch(*, session: ApiSession) -> None:
    now = timezone.now()
    if now - session.last_used_at < API_SESSION_TOUCH_EVERY:
        return
    ApiSession.objects.filter(pk=session.pk, revoked_at__isnull=True).update(
        last_used_at=now, expires_at=now + API_SESSION_TTL
    )


def api_session_revoke(*, session_id: int) -> None:
    with transaction.atomic():
        ApiSession.objects.filter(pk=session_id, revoked_at__isnull=True).update(revoked_at=timezone.now())
