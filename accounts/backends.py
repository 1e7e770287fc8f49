"""The one authentication backend: every web sign-in (allauth, the admin) checks the PIN through
`services.pin_check`, so the web shares the API's brute-force counters and lockout."""

from typing import Any

from django.contrib.auth.backends import ModelBackend
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest

from . import services
from .models import User
from .validators import is_pin

# Set on the request when a sign-in is refused for throttling or lockout (not a wrong PIN), so
# forms and views can answer 429/423 instead of "wrong PIN".
REFUSAL_ATTR = "_pin_refusal"


class PinBackend(ModelBackend):
    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        email: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        email = email or username or kwargs.get(User.USERNAME_FIELD)
        if not email or password is None:
            return None
        if request is None:
            # No request means no client to count against (a shell, `Client.login` in tests):
            # no HTTP path reaches here, since Django and allauth pass the request along.
            return super().authenticate(request, username=email, password=password)
        if not is_pin(password):
            # Not a PIN at all: no PIN check, nothing counted (forms say so before this).
            return None
        try:
            return services.pin_check(request=request, email=email, pin=password)
        except services.InvalidCredentials:
            return None
        except (services.PinThrottled, services.AccountLocked) as exc:
            setattr(request, REFUSAL_ATTR, exc)
            # Stops other backends too; Django's authenticate() turns this into None.
            raise PermissionDenied(str(exc)) from exc
