"""The admin's money field: typed and shown in display units, stored in minor units (issue 13)."""

from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from wallet.models import Currency
from wallet.money_fields import USD, MoneyField, amount_text, usd

MINOR = st.integers(min_value=-(10**15), max_value=10**15)


def field_for(places: int, **kwargs) -> MoneyField:
    currency = Currency(code=f"T{places}", name="Tokens", decimal_places=places)
    return MoneyField(currency=lambda: currency, min_value=None, **kwargs)


@given(minor=MINOR, places=st.integers(min_value=0, max_value=8))
def test_what_is_shown_cleans_back_to_the_same_minor_units(minor, places):
    field = field_for(places)
    shown = field.prepare_value(minor)
    assert field.clean(shown) == minor
    # And what a person types with thousands separators means the same.
    assert field.clean(f"{Decimal(shown):,}") == minor


@given(minor=MINOR, places=st.integers(min_value=0, max_value=7))
def test_one_place_too_many_is_refused_never_rounded(minor, places):
    field = field_for(places)
    finer = Decimal(minor).scaleb(-places) + Decimal(1).scaleb(-places - 1)
    with pytest.raises(ValidationError) as exc:
        field.clean(str(finer))
    assert exc.value.code == "places"


@given(cents=st.integers(min_value=0, max_value=10**12))
def test_dollars_are_dollars(cents):
    field = MoneyField(currency=usd)
    assert field.clean(str(Decimal(cents) / 100)) == cents
    assert amount_text(USD, cents) == f"${Decimal(cents) / 100:,.2f}"


@pytest.mark.parametrize(
    ("typed", "cents"), [("30", 3000), ("30.00", 3000), ("$30", 3000), (" 1,000.5 ", 100050), ("0.30", 30)]
)
def test_typed_dollars(typed, cents):
    assert MoneyField(currency=usd).clean(typed) == cents


@pytest.mark.parametrize(
    ("kwargs", "typed", "code"),
    [
        ({}, "-1", "min_value"),
        ({"min_value": Decimal("5")}, "4.99", "min_value"),
        ({"max_value": Decimal("1000")}, "1000.01", "max_value"),
        ({"min_value": None, "allow_zero": False}, "0", "zero"),
        ({}, "NaN", "invalid"),
        ({}, "Infinity", "invalid"),
        ({}, "1e400", "invalid"),
        ({}, "thirty", "invalid"),
        ({}, "9" * 41, "invalid"),
        ({}, "10000000000000000000", "invalid"),  # beyond a BigIntegerField
        ({}, "1.0000000000000000000000000001", "places"),  # more digits than Decimal's default precision
    ],
)
def test_refusals(kwargs, typed, code):
    with pytest.raises(ValidationError) as exc:
        MoneyField(currency=usd, **kwargs).clean(typed)
    assert exc.value.code == code


def test_negative_amounts_read_with_their_sign():
    assert amount_text(USD, -1050) == "-$10.50"
    credits = Currency(code="C", name="Credits", decimal_places=2)
    assert amount_text(credits, 150, signed=True) == "+1.50 Credits"
    assert amount_text(credits, -123456, unit=False) == "-1,234.56"
