"""allauth, adapted to an email + PIN account: PIN rules, wording, and recovery that needs a
verified email."""

from typing import Any

from allauth.account.adapter import DefaultAccountAdapter
from allauth.account.models import EmailAddress
from django.contrib.auth.base_user import AbstractBaseUser
from django.contrib.auth.password_validation import validate_password
from django.db import transaction
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from . import services, throttle
from .models import User

# The bucket for clients whose address cannot be told (a rate-limit key, never bound to).
UNKNOWN_IP = "0.0.0.0"  # noqa: S104


class PinAccountAdapter(DefaultAccountAdapter):
    error_messages = {
        **DefaultAccountAdapter.error_messages,
        "email_password_mismatch": _("That email and PIN do not match an account."),
        "email_taken": _("An account with this email already exists. Sign in, or use “Forgot PIN”."),
        "enter_current_password": _("Type your current PIN."),
        "incorrect_password": _("That is not your current PIN."),
        "invalid_password_reset": _("This PIN recovery link is not valid any more. Ask for a new one."),
        "too_many_login_attempts": _("Too many sign-in attempts. Try again later."),
    }

    def get_client_ip(self, request: HttpRequest) -> str:
        # allauth raises PermissionDenied / ImproperlyConfigured when it cannot tell; rate
        # limits then share one bucket for "unknown" rather than failing the request.
        return services.client_ip(request) or UNKNOWN_IP

    def clean_password(self, password: str, user: AbstractBaseUser | None = None) -> str:
        # Only the PIN rules (AUTH_PASSWORD_VALIDATORS); allauth's default adds a 6-character
        # minimum that would refuse 4-digit PINs.
        validate_password(password, user if isinstance(user, User) else None)
        return password

    def set_password(self, user: AbstractBaseUser, password: str) -> None:
        assert isinstance(user, User)  # noqa: S101  # AUTH_USER_MODEL
        session = getattr(self.request, "session", None)
        services.pin_set(user=user, pin=password, keep_session_key=session.session_key if session else None)

    def save_user(self, request: HttpRequest, user: AbstractBaseUser, form: Any, commit: bool = True) -> Any:
        # The member and the MEMBER_JOINED event commit together, or neither does.
        with transaction.atomic():
            user = super().save_user(request, user, form, commit)
            if commit:
                code = request.session.pop("referral_code", None) if hasattr(request, "session") else None
                services.member_joined(user_id=user.pk, ip=services.client_ip(request), referral_code=code)
        return user

    def send_password_reset_mail(self, user: AbstractBaseUser, email: str, context: dict[str, Any]) -> None:
        """A recovery link only goes to a verified address; an unverified one gets a
        verification email first. The page the visitor sees is the same either way."""
        address = EmailAddress.objects.filter(user_id=user.pk, email__iexact=email).first()
        if address is not None and address.verified:
            super().send_password_reset_mail(user, email, context)
            return
        if address is None:
            address = EmailAddress.objects.create(user=user, email=email, primary=True, verified=False)
        address.send_confirmation(context.get("request"))

    def _delete_login_attempts_cached_email(self, request: HttpRequest, **credentials: Any) -> None:
        super()._delete_login_attempts_cached_email(request, **credentials)
        email = credentials.get("email")
        if email:
            throttle.clear_email(request, email)
