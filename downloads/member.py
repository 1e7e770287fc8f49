"""The signed-in member behind a request, typed: views behind `login_required` and endpoints
behind `token_auth` only ever see a `User` there, never the anonymous user."""

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from accounts.models import User


def signed_in(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User):  # unreachable behind login_required / token_auth
        raise PermissionDenied
    return user
