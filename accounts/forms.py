from typing import Any

from allauth.account.forms import (
    ChangePasswordForm,
    LoginForm,
    ResetPasswordForm,
    ResetPasswordKeyForm,
    SetPasswordForm,
    SignupForm,
)
from django import forms
from django.contrib.auth.forms import AdminUserCreationForm, UserChangeForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_stubs_ext import StrOrPromise

from core.errors import join_sentences

from . import services, throttle
from .backends import REFUSAL_ATTR
from .models import User
from .validators import PIN_HELP, is_pin

PIN_FORMAT_ERROR = _("Your PIN is 4 to 6 digits.")


def _pin_widget(field: forms.Field, *, autocomplete: str) -> None:
    field.widget.attrs.pop("placeholder", None)  # allauth's says "Password"
    field.widget.attrs.update(
        {
            "inputmode": "numeric",
            "pattern": "[0-9]{4,6}",
            "minlength": "4",
            "maxlength": "6",
            "autocomplete": autocomplete,
            "class": "pin-input",
        }
    )


def _relabel(
    form: forms.Form, name: str, label: StrOrPromise, *, autocomplete: str, help_text: StrOrPromise = ""
) -> None:
    field = form.fields.get(name)
    if field is None:
        return
    field.label = label
    field.help_text = help_text
    _pin_widget(field, autocomplete=autocomplete)


class PinsMustMatch:
    """allauth's "the same password each time" on the second PIN field, in PIN words."""

    errors: Any
    cleaned_data: dict[str, Any]

    _allauth_says = "You must type the same password each time."

    def add_error(self, field: str | None, error: Any) -> None:
        # allauth's sentence, in English or in its own translation (a variable: not ours to extract).
        if field == "password2" and str(error) in (self._allauth_says, gettext(self._allauth_says)):
            error = gettext("You typed two different PINs. Type the same PIN twice.")
        super().add_error(field, error)  # type: ignore[misc]


class PinLoginForm(LoginForm):
    """allauth's sign-in with a PIN; says *why* a sign-in is refused (throttled, locked)."""

    refusal: services.PinCheckError | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["login"].label = _("Email")
        self.fields["login"].widget.attrs.update({"autocomplete": "email", "placeholder": _("you@example.com")})
        _relabel(self, "password", _("PIN"), autocomplete="current-password")

    def clean(self) -> dict[str, Any]:
        pin = self.cleaned_data.get("password")
        if pin is not None and not is_pin(pin):
            # Not a PIN: no check is made and nothing is counted.
            self.add_error("password", PIN_FORMAT_ERROR)
            return self.cleaned_data
        try:
            return super().clean()
        except ValidationError as exc:
            refusal = getattr(self.request, REFUSAL_ATTR, None)
            if isinstance(refusal, services.PinThrottled | services.AccountLocked):
                self.refusal = refusal
                raise ValidationError(str(refusal), code="throttled") from None
            if getattr(exc, "code", None) == "email_password_mismatch":
                raise ValidationError(self._mismatch(exc), code="email_password_mismatch") from None
            raise

    def _mismatch(self, exc: ValidationError) -> str:
        """allauth's "do not match", plus the tries left before checks pause for this email. The
        count is kept per email whether or not an account uses it, so it reveals nothing."""
        tries = throttle.tries_left_text(self.request, self.cleaned_data.get("login") or "")
        return join_sentences(*exc.messages, tries)


class PinSignupForm(SignupForm):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["email"].label = _("Email")
        self.fields["email"].widget.attrs.update({"placeholder": _("you@example.com")})
        _relabel(
            self,
            "password1",
            _("Choose a PIN"),
            autocomplete="new-password",
            help_text=_("4 to 6 digits. Avoid easy ones like 1234 or 0000."),
        )


class PinResetRequestForm(ResetPasswordForm):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["email"].label = _("Email")
        self.fields["email"].widget.attrs.update({"placeholder": _("you@example.com")})


class PinResetForm(PinsMustMatch, ResetPasswordKeyForm):
    """The page the recovery email links to: a new PIN, which also unlocks the account and signs
    the member out everywhere (`signed_out` says how many sessions ended)."""

    signed_out: tuple[int, int] = (0, 0)

    def __init__(self, *args: Any, request: HttpRequest, **kwargs: Any) -> None:
        self.request = request
        super().__init__(*args, **kwargs)
        _relabel(self, "password1", _("New PIN"), autocomplete="new-password", help_text=PIN_HELP)
        _relabel(self, "password2", _("New PIN again"), autocomplete="new-password")

    def save(self) -> None:
        self.signed_out = services.pin_recover(request=self.request, user=self.user, pin=self.cleaned_data["password1"])


class PinChangeForm(PinsMustMatch, ChangePasswordForm):
    """The signed-in PIN change. The current PIN is checked by `services.pin_check`, like a
    sign-in (allauth's form would call `check_password`): a stolen session gets the same
    per-email and per-IP limits, the lockout and the lockout email as a guesser at the door."""

    refusal: services.PinCheckError | None = None
    signed_out: tuple[int, int] = (0, 0)

    def __init__(self, *args: Any, request: HttpRequest, **kwargs: Any) -> None:
        self.request = request
        super().__init__(*args, **kwargs)
        _relabel(self, "oldpassword", _("Current PIN"), autocomplete="current-password")
        _relabel(self, "password1", _("New PIN"), autocomplete="new-password", help_text=PIN_HELP)
        _relabel(self, "password2", _("New PIN again"), autocomplete="new-password")

    def clean_oldpassword(self) -> str:
        assert self.user is not None  # noqa: S101  # allauth's view passes the member
        pin = self.cleaned_data.get("oldpassword", "")
        if not is_pin(pin):
            # Not a PIN: no check is made and nothing is counted.
            raise ValidationError(PIN_FORMAT_ERROR, code="invalid")
        try:
            services.pin_check(request=self.request, email=self.user.email, pin=pin)
        except services.InvalidCredentials:
            raise ValidationError(gettext("That is not your current PIN."), code="incorrect_password") from None
        except (services.PinThrottled, services.AccountLocked) as exc:
            self.refusal = exc
            raise ValidationError(str(exc), code="throttled") from None
        return str(pin)

    def save(self) -> None:
        assert self.user is not None  # noqa: S101
        keep = self.request.session.session_key
        self.signed_out = services.pin_set(user=self.user, pin=self.cleaned_data["password1"], keep_session_key=keep)


class PinSetForm(PinsMustMatch, SetPasswordForm):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _relabel(self, "password1", _("PIN"), autocomplete="new-password", help_text=PIN_HELP)
        _relabel(self, "password2", _("PIN again"), autocomplete="new-password")


class UserAdminCreationForm(AdminUserCreationForm):
    class Meta:
        model = User
        fields = ("email",)


class UserAdminChangeForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"
