"""Who is asking: the signed-in user's id, typed, for views and admin actions behind a login."""

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest


def signed_in_id(request: HttpRequest) -> int:
    """The signed-in user's id. PermissionDenied (403) for an anonymous request, which a view
    behind `login_required` or an admin action never sees."""
    user = request.user
    if not user.is_authenticated or user.pk is None:
        raise PermissionDenied
    return int(user.pk)
