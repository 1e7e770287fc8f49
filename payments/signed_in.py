"""Who is asking: the member behind a request that `login_required`, the API's token check or the
admin already let through (so `request.user` is a real account, and its id an int)."""

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from accounts.models import User


def member(request: HttpRequest) -> User:
    user = request.user
    if not isinstance(user, User):  # AnonymousUser: the view's guard makes this unreachable
        raise PermissionDenied
    return user
