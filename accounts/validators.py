"""PIN rules, used everywhere a PIN is set: allauth forms, the admin, the API and services.

A PIN is exactly 4 to 6 ASCII digits (not Unicode digits such as "١٢٣٤", no spaces). The most
common PINs are refused: the top of the DataGenetics list of leaked 4-digit PINs, any PIN made
of one digit ("0000"), a run up or down ("1234", "98765") or a repeated group ("1212", "123123").
"""

import re
from typing import Any

from django.core.exceptions import ValidationError
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

PIN_RE = re.compile(r"[0-9]{4,6}")
PIN_HELP = _("4 to 6 digits.")
# The most frequent 4-digit PINs in leaked data (DataGenetics, 3.4M PINs), plus the same for
# 6 digits. Rules below catch the rest of the family (0000, 1234, 1212, 123123, ...).
COMMON_PINS = frozenset(
    {
        "1234", "1111", "0000", "1212", "7777", "1004", "2000", "4444", "2222", "6969",
        "9999", "3333", "5555", "6666", "1122", "1313", "8888", "4321", "2001", "1010",
        "123456", "654321", "111111", "000000", "121212", "112233", "123123", "696969",
        "159753", "147258", "123321", "666666", "777777", "987654", "101010", "131313",
    }
)  # fmt: skip


def is_pin(value: object) -> bool:
    return isinstance(value, str) and PIN_RE.fullmatch(value) is not None


def validate_pin_format(value: object) -> None:
    if not is_pin(value):
        raise ValidationError(_("Your PIN must be 4 to 6 digits (0–9), nothing else."), code="pin_format")


def _is_run(pin: str) -> bool:
    steps = {int(b) - int(a) for a, b in zip(pin, pin[1:], strict=False)}
    return steps in ({1}, {-1})


def _is_repeated_group(pin: str) -> bool:
    return any(len(pin) % size == 0 and pin == pin[:size] * (len(pin) // size) for size in (1, 2, 3) if size < len(pin))


def is_common_pin(pin: str) -> bool:
    return pin in COMMON_PINS or _is_run(pin) or _is_repeated_group(pin)


def validate_pin_not_common(value: str) -> None:
    if is_pin(value) and is_common_pin(value):
        raise ValidationError(
            _("That PIN is one of the most common ones and easy to guess. Choose another."), code="pin_common"
        )


def validate_new_pin(value: object) -> str:
    """Both rules; returns the PIN. Raises ValidationError."""
    validate_pin_format(value)
    assert isinstance(value, str)
    validate_pin_not_common(value)
    return value


class PinFormatValidator:
    """AUTH_PASSWORD_VALIDATORS entry: the PIN format."""

    def validate(self, password: str, user: Any = None) -> None:
        validate_pin_format(password)

    def get_help_text(self) -> str:
        return gettext("Your PIN must be 4 to 6 digits.")


class CommonPinValidator:
    """AUTH_PASSWORD_VALIDATORS entry: refuse the most common PINs."""

    def validate(self, password: str, user: Any = None) -> None:
        validate_pin_not_common(password)

    def get_help_text(self) -> str:
        return gettext("Avoid common PINs such as 1234, 0000 or 1212.")
