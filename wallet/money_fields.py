"""Money as staff type and read it: one form field and one list column for every admin.

The database keeps integers of minor units (cents, credit minor units); staff enter and read
display units ("30.00" is thirty dollars, never thirty cents). `MoneyField` cleans what was typed
into minor units, refusing more decimal places than the currency has, and shows a stored value
back in display units, so a ModelForm can declare it under the model field's own name. The
currency is looked up when the form is used (the site currency lives in the database).
"""

import time
from collections.abc import Callable
from decimal import Decimal, InvalidOperation, localcontext
from operator import attrgetter
from typing import TYPE_CHECKING, Any

from django import forms
from django.conf import settings
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.db.models import Model
from django.utils.translation import gettext_lazy as _

from .models import Currency
from .selectors import default_currency

if TYPE_CHECKING:
    from django.utils.functional import _StrPromise

BIGINT_MAX = 2**63 - 1
MAX_TYPED = 40  # characters: far more than any amount a BigIntegerField holds
# The dollar as a currency (never saved): prices and thresholds are USD with 2 places.
USD = Currency(code="USD", name="US$", decimal_places=2)


def usd() -> Currency:
    return USD


_site_currency: tuple[float, Currency] | None = None


def credits() -> Currency:
    """The site currency, read at most every few seconds (a list page formats many amounts;
    a currency's places never change once it is in use)."""
    global _site_currency
    cached = _site_currency
    if cached is None or time.monotonic() - cached[0] > 5 or cached[1].code != settings.GOLDBOOK_CURRENCY_CODE:
        cached = _site_currency = (time.monotonic(), default_currency())
    return cached[1]


def amount_text(currency: Currency, minor: int | None, *, signed: bool = False, unit: bool = True) -> str:
    """Minor units as a person reads them: "$30.00" for USD, "40.00 Credits" for credits (the
    currency's places, thousands separated; `unit=False`: "40.00", for a column that names its
    currency); "" for no amount."""
    if minor is None:
        return ""
    number = f"{currency.to_decimal(abs(minor)):,}"
    sign = "-" if minor < 0 else "+" if signed and minor > 0 else ""
    if currency.code == USD.code:
        return f"{sign}${number}"
    return f"{sign}{number} {currency.name}" if unit else f"{sign}{number}"


def formatter(currency: Callable[[], Currency] = credits) -> Callable[[Any], str]:
    """Stored minor units → the text a person reads, e.g. for a held change's before and after."""
    return lambda minor: amount_text(currency(), int(minor))


class MoneyInput(forms.TextInput):
    """A text box for an amount (no spinner, no browser locale rewriting "30.00"), with its unit
    written after it."""

    template_name = "wallet/widgets/money.html"

    class Media:
        css = {"all": ["wallet/money.css"]}

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__({"inputmode": "decimal", "autocomplete": "off", "class": "vTextField money", **(attrs or {})})
        self.unit = ""

    def get_context(self, name: str, value: Any, attrs: dict[str, Any] | None) -> dict[str, Any]:
        context = super().get_context(name, value, attrs)
        context["widget"]["unit"] = self.unit
        return context


class MoneyField(forms.Field):
    """An amount typed in display units, cleaned to integer minor units of `currency()`.

    `min_value`/`max_value` are in display units (Decimal); `allow_zero=False` refuses 0 (a
    signed adjustment). Commas as thousands separators and a leading "$" are accepted."""

    widget = MoneyInput
    default_error_messages = {
        "invalid": _("Enter an amount, e.g. 30.00."),
        "places": _("Use at most %(places)d decimal places (%(quantum)s is the smallest amount)."),
        "min_value": _("Enter at least %(limit)s."),
        "max_value": _("Enter at most %(limit)s."),
        "zero": _("Enter an amount other than zero."),
    }

    def __init__(
        self,
        *,
        currency: Callable[[], Currency] = credits,
        min_value: Decimal | None = Decimal(0),
        max_value: Decimal | None = None,
        allow_zero: bool = True,
        **kwargs: Any,
    ) -> None:
        self.currency, self.min_value, self.max_value, self.allow_zero = currency, min_value, max_value, allow_zero
        super().__init__(**kwargs)

    def get_bound_field(self, form: forms.BaseForm, field_name: str) -> forms.BoundField:
        if isinstance(self.widget, MoneyInput):
            self.widget.unit = "USD" if self.currency is usd else self.currency().name
        return super().get_bound_field(form, field_name)

    def prepare_value(self, value: Any) -> Any:
        """Stored minor units (an int) → "30.00"; what was typed is shown back as typed."""
        if isinstance(value, int) and not isinstance(value, bool):
            return str(self.currency().to_decimal(value))
        return value

    def to_python(self, value: Any) -> int | None:
        if value in self.empty_values:
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return value  # already minor units (an initial value)
        text = str(value).strip().replace(",", "").removeprefix("$").strip()
        try:
            amount = Decimal(text)
        except InvalidOperation:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None
        if not amount.is_finite() or len(text) > MAX_TYPED:
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        currency = self.currency()
        try:
            with localcontext() as exact:  # enough digits that scaling never rounds what was typed
                exact.prec = 2 * MAX_TYPED
                minor = currency.to_minor(amount)
        except ValueError:
            raise ValidationError(
                self.error_messages["places"],
                code="places",
                params={"places": currency.decimal_places, "quantum": currency.quantum},
            ) from None
        self._check_range(currency, amount)
        if abs(minor) > BIGINT_MAX:
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        return minor

    def _check_range(self, currency: Currency, amount: Decimal) -> None:
        def limit(value: Decimal) -> str:
            try:
                return amount_text(currency, currency.to_minor(value))
            except ValueError:
                return str(value)

        if not self.allow_zero and amount == 0:
            raise ValidationError(self.error_messages["zero"], code="zero")
        if self.min_value is not None and amount < self.min_value:
            raise ValidationError(
                self.error_messages["min_value"], code="min_value", params={"limit": limit(self.min_value)}
            )
        if self.max_value is not None and amount > self.max_value:
            raise ValidationError(
                self.error_messages["max_value"], code="max_value", params={"limit": limit(self.max_value)}
            )


def money_column(
    attr: str,
    description: "str | _StrPromise",
    *,
    currency: Callable[[], Currency] | str = credits,
    signed: bool = False,
) -> Callable[[Any, Any], str]:
    """An admin column (or read-only field) showing `obj.<attr>` (minor units) in display units.
    `currency`: a function giving it, or the dotted path to it on the object ("account.currency")."""
    currency_of = attrgetter(currency) if isinstance(currency, str) else (lambda obj: currency())

    @admin.display(description=description, ordering=attr)
    def column(model_admin: Any, obj: Any) -> str:
        return amount_text(currency_of(obj), getattr(obj, attr), signed=signed, unit=False)

    return column


def read_only_fields(model: type[Model], *money: str) -> list[str]:
    """Every field of `model` for a read-only admin page, each of the `money` ones replaced by its
    `<name>_shown` column (which the admin defines with `money_column`, and excludes `money`)."""
    return [f"{f.name}_shown" if f.name in money else f.name for f in model._meta.fields]
