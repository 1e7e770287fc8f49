import pytest
from django.contrib.auth.hashers import make_password
from django.core.exceptions import ValidationError

from accounts.validators import is_common_pin, is_pin, validate_new_pin


@pytest.mark.parametrize("pin", ["4829", "58203", "592817", "2580"])
def test_good_pins_pass(pin):
    assert validate_new_pin(pin) == pin


@pytest.mark.parametrize(
    "pin", ["123", "1234567", "12a4", "12 34", " 4829", "4829\n", "١٢٣٤", "４８２９", "", "48.29", "-482"]
)
def test_anything_but_4_to_6_ascii_digits_is_refused(pin):
    assert not is_pin(pin)
    with pytest.raises(ValidationError) as exc:
        validate_new_pin(pin)
    assert exc.value.code == "pin_format"


@pytest.mark.parametrize(
    "pin", ["1234", "0000", "1111", "1212", "123456", "654321", "9876", "123123", "121212", "6969"]
)
def test_common_pins_are_refused_with_a_clear_message(pin):
    assert is_common_pin(pin)
    with pytest.raises(ValidationError, match="most common"):
        validate_new_pin(pin)


def test_non_strings_are_not_pins():
    assert not is_pin(4829)
    assert not is_pin(None)


def test_pins_are_hashed_with_bcrypt_cost_12(settings):
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    ]
    encoded = make_password("4829")
    algorithm, bcrypt_hash = encoded.split("$", 1)
    assert algorithm == "bcrypt_sha256"
    assert bcrypt_hash.startswith("$2b$12$")


def test_the_production_hasher_list_puts_bcrypt_first():
    from config import settings as project_settings

    assert project_settings.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.BCryptSHA256PasswordHasher"
