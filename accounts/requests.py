"""The signed-in member of a page request, typed as our User."""

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from .models import User


def signed_in_member(request: HttpRequest) -> User:
    """The signed-in member. PermissionDenied (403) for an anonymous request, which a view behind
    `login_required` never sees."""
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied
    return user
