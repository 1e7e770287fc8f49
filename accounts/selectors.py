"""Reads for accounts: the live API session of a token, in one indexed lookup.

The token lookup's SQL pieces are public so the site app can put the token check and the
member's balance summary in ONE prepared statement (`portal.selectors`), the hottest token
endpoint's only query.
"""

from typing import Any

from django.utils import timezone

from core.db import ModelColumns, PreparedStatement

from .models import ApiSession, User
from .services import TOKEN_PREFIX, token_digest

SESSION_COLUMNS = ModelColumns(ApiSession, "s")
USER_COLUMNS = ModelColumns(User, "u")
# What token auth needs (sliding expiry, request.user): other fields stay deferred, loaded on
# access should anything ever read them.
SESSION_BRIEF = ModelColumns(ApiSession, "s", only=("id", "user_id", "last_used_at", "expires_at", "revoked_at"))
USER_BRIEF = ModelColumns(User, "u", only=("id", "email", "is_active", "is_staff", "is_superuser"))

# The live session of a token: not revoked, not expired, its member active. Indexed by digest.
TOKEN_TABLES = " FROM accounts_apisession s JOIN accounts_user u ON u.id = s.user_id"
TOKEN_WHERE = (
    " WHERE s.token_digest = %(digest)s AND s.revoked_at IS NULL AND s.expires_at > %(now)s"
    " AND u.is_active = %(active)s"
)

_SESSION_STATEMENT = PreparedStatement(
    "goldbook_api_session", f"SELECT {SESSION_COLUMNS.sql}, {USER_COLUMNS.sql}{TOKEN_TABLES}{TOKEN_WHERE}"
)


def token_params(token: str) -> dict[str, Any] | None:
    """The statement parameters for a raw token, or None when it cannot be one of ours."""
    if not isinstance(token, str) or not token.startswith(TOKEN_PREFIX) or len(token) > 200:
        return None
    return {"digest": token_digest(token), "now": timezone.now(), "active": True}


def session_from_row(
    row: tuple[Any, ...], session_columns: ModelColumns = SESSION_COLUMNS, user_columns: ModelColumns = USER_COLUMNS
) -> ApiSession:
    n = len(session_columns)
    session: ApiSession = session_columns.instance(row[:n])
    session.user = user_columns.instance(row[n : n + len(user_columns)])
    return session


def api_session_for_token(token: str) -> ApiSession | None:
    """The live session for a raw token, its user loaded: one indexed lookup by digest, no bcrypt.

    Hand-written SQL: compiling the equivalent ORM query cost several times the lookup itself on
    every token-authenticated request.
    """
    params = token_params(token)
    if params is None:
        return None
    row = _SESSION_STATEMENT.fetchone(params)
    return None if row is None else session_from_row(row)
