from django.utils import timezone

from .models import ApiSession
from .services import TOKEN_PREFIX, token_digest


def api_session_for_token(token: str) -> ApiSession | None:
    """The live session for a raw token: one indexed lookup by digest, no bcrypt."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    session = (
        ApiSession.objects.select_related("user")
        .filter(token_digest=token_digest(token), revoked_at__isnull=True, expires_at__gt=timezone.now())
        .first()
    )
    if session is None or not session.user.is_active:
        return None
    return session
