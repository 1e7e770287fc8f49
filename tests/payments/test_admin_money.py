"""Packages and bonus tiers in the admin: typed in dollars and credits, checked against the custom
range and the exchange of dollars for credits, previewed before anything is saved (issue 13)."""

import pytest
from django.urls import reverse

from core.models import ConfigChange
from payments.models import BonusTier, CreditPackage
from tests.factories import credit_package, staff

pytestmark = pytest.mark.django_db

ADD = "admin:payments_creditpackage_add"


@pytest.fixture
def maker(client):
    user = staff(
        "payments.add_creditpackage",
        "payments.change_creditpackage",
        "payments.view_creditpackage",
        "payments.add_bonustier",
        "payments.change_bonustier",
        "payments.view_bonustier",
        email="maker@example.com",
    )
    client.force_login(user)
    return user


def package(**overrides):
    data = {"name": "Thirty", "usd_cents": "30", "base_credits": "", "bonus_credits": "10", "style": "card"}
    data.update({"sort_order": "0", "active": "on", **overrides})
    return {k: v for k, v in data.items() if v is not None}


def errors(response) -> dict[str, list[str]]:
    return {name: list(errs) for name, errs in response.context["adminform"].form.errors.items()}


def test_thirty_cents_typed_as_before_is_refused_below_the_custom_minimum(client, maker):
    # The old form took cents: "30" made a $0.30 package that went on sale. Typed in dollars now,
    # $0.30 is refused (custom amounts start at $5.00), and nothing is saved or proposed.
    response = client.post(reverse(ADD), package(usd_cents="0.30", bonus_credits="0"))
    assert response.status_code == 200
    assert (
        "Members may buy custom amounts from $5.00 to $1,000.00; $0.30 is outside" in errors(response)["usd_cents"][0]
    )
    assert not CreditPackage.objects.filter(name="Thirty").exists()
    assert not ConfigChange.objects.exists()


def test_thirty_means_thirty_dollars_and_the_base_is_what_the_price_buys(client, maker):
    response = client.post(reverse(ADD), package(usd_cents="30", bonus_credits="0"))
    assert response.status_code == 302  # no bonus: no money created, saved at once
    made = CreditPackage.objects.get(name="Thirty")
    assert (made.usd_cents, made.base_credits, made.bonus_credits) == (3000, 3000, 0)
    listing = client.get(reverse("admin:payments_creditpackage_changelist")).content.decode()
    assert "$30.00" in listing and "$25.00" in listing


def test_a_package_outside_the_range_needs_the_explicit_mark(client, maker):
    response = client.post(reverse(ADD), package(usd_cents="2000", bonus_credits="0"))
    assert "usd_cents" in errors(response)
    response = client.post(reverse(ADD), package(usd_cents="2000", bonus_credits="0", price_outside_custom_range="on"))
    assert response.status_code == 302
    assert CreditPackage.objects.get(name="Thirty").usd_cents == 200000


@pytest.mark.parametrize(
    ("base", "message"),
    [
        ("3000", "$30.00 buys 30.00 Credits as a custom amount, so the base credits are 30.00 Credits"),
        ("20", "$30.00 buys 30.00 Credits as a custom amount"),  # fewer than a custom amount gives
        ("40", "Put anything more in bonus credits"),  # a hidden bonus
    ],
)
def test_base_credits_other_than_what_the_price_buys_are_refused(client, maker, base, message):
    response = client.post(reverse(ADD), package(base_credits=base))
    assert message in errors(response)["base_credits"][0]
    assert not ConfigChange.objects.exists()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("usd_cents", "30.001", "at most 2 decimal places"),
        ("usd_cents", "thirty", "Enter an amount"),
        ("usd_cents", "-30", "Enter at least $0.01"),
        ("bonus_credits", "-5", "Enter at least 0.00 Credits"),
        ("bonus_credits", "1.234", "at most 2 decimal places"),
    ],
)
def test_amounts_are_checked_in_display_units(client, maker, field, value, message):
    response = client.post(reverse(ADD), package(**{field: value}))
    assert any(message in e for e in errors(response)[field]), errors(response)


def test_preview_shows_what_members_get_and_saves_nothing(client, maker):
    response = client.post(reverse(ADD), package(usd_cents="30.00", bonus_credits="10", _preview="Preview"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Members pay $30.00, receive 40.00 Credits, 10.00 Credits of them bonus." in page
    assert "wait for a second staff member" in page  # the bonus makes it a four-eyes change
    assert 'value="30.00"' in page  # the form comes back as typed
    assert not CreditPackage.objects.filter(name="Thirty").exists()
    assert not ConfigChange.objects.exists()

    # Then saving proposes exactly what was previewed.
    client.post(reverse(ADD), package(usd_cents="30.00", bonus_credits="10"))
    held = ConfigChange.objects.get()
    assert {k: held.values[k] for k in ("usd_cents", "base_credits", "bonus_credits")} == {
        "usd_cents": 3000,
        "base_credits": 3000,
        "bonus_credits": 1000,
    }
    # The second staff member reads it as it was typed, not in cents.
    held_page = client.get(reverse("admin:core_configchange_change", args=[held.pk])).content.decode()
    assert "<b>usd_cents</b>: — → $30.00" in held_page and "<b>bonus_credits</b>: — → 10.00 Credits" in held_page


def test_preview_of_a_change_leaves_the_package_alone(client, maker):
    popular = credit_package("Popular Pack")
    url = reverse("admin:payments_creditpackage_change", args=[popular.pk])
    form = client.get(url).content.decode()
    assert 'value="50.00"' in form and 'value="25.00"' in form  # shown in dollars and credits
    data = package(name=popular.name, usd_cents="50.00", bonus_credits="5.00", active=None, _preview="Preview")
    page = client.post(url, data).content.decode()
    assert "Members pay $50.00, receive 55.00 Credits, 5.00 Credits of them bonus." in page
    assert "The package is inactive" in page and "applies at once" in page
    popular.refresh_from_db()
    assert (popular.bonus_credits, popular.active) == (2500, True)


def test_bonus_tier_threshold_in_dollars(client, maker):
    tier = BonusTier.objects.get()  # +10% from $200.00
    url = reverse("admin:payments_bonustier_change", args=[tier.pk])
    assert 'value="200.00"' in client.get(url).content.decode()
    page = client.post(url, {"min_usd_cents": "200", "percent": "10", "_preview": "Preview"}).content.decode()
    assert "A custom purchase of $200.00 receives 220.00 Credits, 20.00 Credits of them bonus (10%)." in page
    response = client.post(url, {"min_usd_cents": "5000", "percent": "10"})
    assert "No custom amount reaches $5,000.00: the largest is $1,000.00." in errors(response)["min_usd_cents"]
    client.post(url, {"min_usd_cents": "150", "percent": "10"})  # a lower threshold: held
    assert ConfigChange.objects.get().values["min_usd_cents"] == 15000
