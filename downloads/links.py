"""Signed download links.

A link is `/downloads/file/<token>/` where the token is a `TimestampSigner` signature over
`{"u": user id, "k": kind, "id": object id}`:

- kind "job" → a completed job's archive, "rec" → the item of a paid (or free) download
  record, "unl" → an unlocked item, "rep" → an EA's performance report;
- the token carries the user binding: it is only honoured while that user is active and still
  owns the job / record / unlock, and never for a different signed-in user (a shared link
  does not work in someone else's session);
- it expires after DOWNLOADS_LINK_MAX_AGE seconds, so a leaked link is short-lived. Clients
  that need the file later ask for a fresh link (jobs: GET /api/download-jobs/<id>; unlocked
  items: POST /api/items/<id>/download, free again).
"""

from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.urls import reverse

SALT = "downloads.link.v1"
KINDS = ("job", "rec", "unl", "rep")


@dataclass(frozen=True)
class LinkClaim:
    user_id: int
    kind: str
    object_id: int


def sign(*, user_id: int, kind: str, object_id: int) -> str:
    if kind not in KINDS:
        raise ValueError(f"Unknown link kind {kind!r}.")
    return signing.TimestampSigner(salt=SALT).sign_object({"u": user_id, "k": kind, "id": object_id}, compress=False)


def url(*, user_id: int, kind: str, object_id: int) -> str:
    return reverse("downloads:file", args=[sign(user_id=user_id, kind=kind, object_id=object_id)])


def verify(token: str) -> LinkClaim | None:
    """The claim of a valid, unexpired token; None for anything else (forged, expired, garbage)."""
    if len(token) > 400:
        return None
    try:
        data = signing.TimestampSigner(salt=SALT).unsign_object(token, max_age=settings.DOWNLOADS_LINK_MAX_AGE)
    except (signing.BadSignature, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(data, dict):
        return None
    user_id, kind, object_id = data.get("u"), data.get("k"), data.get("id")
    if not isinstance(user_id, int) or not isinstance(object_id, int) or kind not in KINDS:
        return None
    return LinkClaim(user_id=user_id, kind=kind, object_id=object_id)
