"""Issue 11 item 9: one staff member cannot mint money through the settings.

Earning rules, boosters, credit packages worth more than their price and bonus tiers change only
after a second staff member approves (core.config_changes); every change is in the model's
history (who, when, before/after); an integration's secret is shown once and only rotated.
Each test is an attack that worked before: one staff member's save used to take effect at once.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import IntegrityError, transaction
from django.urls import reverse
from django.utils import timezone

from core import config_changes
from core.config_changes import ConfigChangeConflict, ConfigChangeNotAllowed
from core.models import ConfigChange, ConfigChangeStatus
from payments.models import BonusTier, CreditPackage
from rewards.models import Booster, EarningRule, Integration
from tests.factories import credit_package, staff

pytestmark = pytest.mark.django_db

RULE_PERMS = ("rewards.add_earningrule", "rewards.change_earningrule", "rewards.view_earningrule")


@pytest.fixture
def maker():
    return staff(
        *RULE_PERMS,
        "rewards.add_booster",
        "rewards.change_booster",
        "payments.add_creditpackage",
        "payments.change_creditpackage",
        "payments.view_creditpackage",
        "payments.add_bonustier",
        "payments.change_bonustier",
        "rewards.add_integration",
        "rewards.change_integration",
        "rewards.view_integration",
        email="maker@example.com",
    )


@pytest.fixture
def checker():
    return staff("core.approve_configchange", "core.view_configchange", email="checker@example.com")


def rule_form(**overrides):
    data = {
        "name": "Helpful answer",
        "event_type": "answer.posted",
        "amount": "5.00",
        "min_upvotes": "0",
        "cycle": "unlimited",
        "max_per_cycle": "0",
        "once_per_object": "on",
        "is_active": "on",
        "starts_at_0": "",
        "starts_at_1": "",
        "ends_at_0": "",
        "ends_at_1": "",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def approve_in_admin(client, user, change):
    client.force_login(user)
    return client.post(
        reverse("admin:core_configchange_changelist"),
        {"action": "approve", "_selected_action": [change.pk]},
        follow=True,
    )


def test_a_new_earning_rule_waits_for_a_second_staff_member(client, maker, checker):
    client.force_login(maker)
    response = client.post(reverse("admin:rewards_earningrule_add"), rule_form())
    change = ConfigChange.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:core_configchange_change", args=[change.pk])
    assert not EarningRule.objects.filter(name="Helpful answer").exists()
    held_page = client.get(response["Location"]).content.decode()
    assert "Awaiting approval" in held_page and "<b>amount</b>: — → 5.00 Credits" in held_page

    # The maker cannot approve their own change, through the admin or the service.
    approve_in_admin(client, maker, change)
    with pytest.raises(ConfigChangeNotAllowed):
        config_changes.approve(change_id=change.pk, approver_id=maker.pk)
    change.refresh_from_db()
    assert change.status == ConfigChangeStatus.REQUESTED

    page = approve_in_admin(client, checker, change)
    assert f"Change #{change.pk} approved and applied" in page.content.decode()
    rule = EarningRule.objects.get(name="Helpful answer")
    assert rule.amount == 500 and rule.once_per_object and rule.is_active
    change.refresh_from_db()
    assert (change.status, change.decided_by, change.applied_object_id) == ("approved", checker, rule.pk)
    record = rule.history.get()
    assert record.history_type == "+" and record.history_user == checker
    assert f"Change #{change.pk}" in record.history_change_reason


def test_raising_a_rule_is_held_and_the_old_amount_still_applies(client, maker, checker):
    rule = EarningRule.objects.get(name="Verified EA")  # 50 coins
    client.force_login(maker)
    client.post(
        reverse("admin:rewards_earningrule_change", args=[rule.pk]),
        rule_form(name=rule.name, event_type=rule.event_type, amount="5000.00", once_per_object="on"),
    )
    rule.refresh_from_db()
    assert rule.amount == 5000  # unchanged: the raise waits
    change = ConfigChange.objects.get(object_id=rule.pk)
    assert change.before["amount"] == 5000 and change.values["amount"] == 500000
    config_changes.approve(change_id=change.pk, approver_id=checker.pk)
    rule.refresh_from_db()
    assert rule.amount == 500000


def test_lowering_or_switching_off_applies_at_once_and_is_recorded(client, maker):
    rule = EarningRule.objects.get(name="Verified EA")
    client.force_login(maker)
    response = client.post(
        reverse("admin:rewards_earningrule_change", args=[rule.pk]),
        rule_form(name=rule.name, event_type=rule.event_type, amount="20.00", is_active=None),
    )
    assert response.status_code == 302
    rule.refresh_from_db()
    assert (rule.amount, rule.is_active) == (2000, False)
    assert not ConfigChange.objects.exists()
    latest = rule.history.latest()
    assert latest.history_user == maker
    delta = latest.diff_against(latest.prev_record)
    assert {c.field: (c.old, c.new) for c in delta.changes} == {"amount": (5000, 2000), "is_active": (True, False)}


@pytest.mark.parametrize(
    "overrides",
    [
        {"min_upvotes": "0"},  # quality condition lowered (rule requires 5 upvotes)
        {"exempt_from_daily_cap": "on"},
        {"once_per_object": None},
        {"max_per_cycle": "5"},
        {"max_per_cycle": "0"},  # 0 = no limit
        {"cycle": "unlimited"},
    ],
)
def test_other_ways_a_rule_pays_more_are_held(client, maker, overrides):
    EarningRule.objects.filter(name="Quality post").update(cycle="day", max_per_cycle=3)
    rule = EarningRule.objects.get(name="Quality post")
    client.force_login(maker)
    base = rule_form(
        name=rule.name, event_type=rule.event_type, amount="10.00", min_upvotes="5", cycle="day", max_per_cycle="3"
    )
    base.update(overrides)
    client.post(reverse("admin:rewards_earningrule_change", args=[rule.pk]), {k: v for k, v in base.items() if v})
    assert ConfigChange.objects.filter(object_id=rule.pk, status="requested").count() == 1


def test_a_change_made_after_the_proposal_makes_it_stale(client, maker, checker):
    rule = EarningRule.objects.get(name="Verified EA")
    change = config_changes.propose(
        obj=EarningRule(**{**config_changes.snapshot(rule), "id": rule.pk, "amount": 99900}),
        m2m=None,
        requested_by_id=maker.pk,
        summary="raise",
    )
    EarningRule.objects.filter(pk=rule.pk).update(min_upvotes=3)
    with pytest.raises(ConfigChangeConflict):
        config_changes.approve(change_id=change.pk, approver_id=checker.pk)
    rule.refresh_from_db()
    assert rule.amount == 5000
    assert ConfigChange.objects.get(pk=change.pk).status == ConfigChangeStatus.REQUESTED
    config_changes.reject(change_id=change.pk, approver_id=checker.pk, note="stale")
    assert ConfigChange.objects.get(pk=change.pk).status == ConfigChangeStatus.REJECTED


def test_a_booster_and_its_rules_wait_for_approval(client, maker, checker):
    now = timezone.localtime()
    later = now + timedelta(days=2)
    rules = list(EarningRule.objects.order_by("pk")[:2])
    client.force_login(maker)
    form = {
        "name": "Double weekend",
        "multiplier": "2.00",
        "rules": [rules[0].pk],
        "starts_at_0": now.strftime("%Y-%m-%d"),
        "starts_at_1": now.strftime("%H:%M:%S"),
        "ends_at_0": later.strftime("%Y-%m-%d"),
        "ends_at_1": later.strftime("%H:%M:%S"),
        "is_active": "on",
    }
    client.post(reverse("admin:rewards_booster_add"), form)
    assert not Booster.objects.exists()
    config_changes.approve(change_id=ConfigChange.objects.get().pk, approver_id=checker.pk)
    booster = Booster.objects.get()
    assert list(booster.rules.all()) == rules[:1] and booster.multiplier == Decimal("2.00")

    # Adding a rule to it is held too; renaming alone is not.
    client.post(reverse("admin:rewards_booster_change", args=[booster.pk]), {**form, "rules": [r.pk for r in rules]})
    assert booster.rules.count() == 1
    assert ConfigChange.objects.filter(status="requested").count() == 1
    client.post(reverse("admin:rewards_booster_change", args=[booster.pk]), {**form, "name": "2x weekend"})
    booster.refresh_from_db()
    assert booster.name == "2x weekend"
    latest = booster.history.latest()
    assert (latest.name, latest.history_user) == ("2x weekend", maker)
    assert booster.history.earliest().history_user == checker  # created by the approval


def package_form(package, **overrides):
    data = {
        "name": package.name,
        "usd_cents": package.usd_cents,
        "base_credits": package.base_credits,
        "bonus_credits": package.bonus_credits,
        "badge": package.badge,
        "style": package.style,
        "sort_order": package.sort_order,
        "active": "on" if package.active else "",
    }
    data.update(overrides)
    # The form takes dollars and credits (2 places); the tests speak minor units.
    money = ("usd_cents", "base_credits", "bonus_credits")
    return {k: f"{Decimal(v) / 100:.2f}" if k in money else v for k, v in data.items() if v != ""}


def test_a_package_worth_more_than_its_price_waits_for_approval(client, maker, checker):
    popular = credit_package("Popular Pack")  # $50 → 75 credits
    client.force_login(maker)
    url = reverse("admin:payments_creditpackage_change", args=[popular.pk])

    client.post(url, package_form(popular, bonus_credits=50000))  # 550 credits for $50
    popular.refresh_from_db()
    assert popular.bonus_credits == 2500
    held = ConfigChange.objects.get()

    client.post(url, package_form(popular, bonus_credits=1000, badge="SALE"))  # less bonus: at once
    popular.refresh_from_db()
    assert (popular.bonus_credits, popular.badge) == (1000, "SALE")
    with pytest.raises(ConfigChangeConflict):  # the held raise was proposed against the old row
        config_changes.approve(change_id=held.pk, approver_id=checker.pk)

    client.post(reverse("admin:payments_creditpackage_add"), package_form(popular, name="Fair", bonus_credits=0))
    assert CreditPackage.objects.filter(name="Fair").exists()  # credits = price: no money created

    client.post(url, package_form(popular, active=""))  # switching off: at once
    popular.refresh_from_db()
    assert not popular.active
    client.post(url, package_form(popular, active="on"))  # switching on a bonus package: held
    popular.refresh_from_db()
    assert not popular.active
    assert ConfigChange.objects.filter(status="requested").count() == 2


def test_bonus_tiers_wait_for_approval(client, maker, checker):
    client.force_login(maker)
    client.post(reverse("admin:payments_bonustier_add"), {"min_usd_cents": "10.00", "percent": "50"})
    assert not BonusTier.objects.filter(min_usd_cents=1000).exists()
    tier = BonusTier.objects.get()
    client.post(reverse("admin:payments_bonustier_change", args=[tier.pk]), {"min_usd_cents": "1", "percent": "10"})
    tier.refresh_from_db()
    assert tier.min_usd_cents == 20000
    client.post(reverse("admin:payments_bonustier_change", args=[tier.pk]), {"min_usd_cents": "200.00", "percent": "5"})
    tier.refresh_from_db()
    assert tier.percent == Decimal("5")
    assert ConfigChange.objects.filter(status="requested").count() == 2


def test_only_holders_of_the_approve_permission_decide(maker):
    other = staff("core.view_configchange", email="other@example.com")
    tier = BonusTier.objects.get()
    change = config_changes.propose(
        obj=BonusTier(pk=tier.pk, min_usd_cents=tier.min_usd_cents, percent=Decimal("400")),
        m2m=None,
        requested_by_id=maker.pk,
        summary="raise",
    )
    for decide in (config_changes.approve, config_changes.reject):
        with pytest.raises(ConfigChangeNotAllowed) as exc:
            decide(change_id=change.pk, approver_id=other.pk)
        assert exc.value.status == 403
    # And the database refuses a self-approval that skipped the services.
    with pytest.raises(IntegrityError), transaction.atomic():
        ConfigChange.objects.filter(pk=change.pk).update(status="approved", decided_by=maker)


def test_staff_without_the_model_permission_cannot_propose():
    nobody = staff(email="nobody@example.com")
    rule = EarningRule.objects.get(name="Verified EA")
    with pytest.raises(ConfigChangeNotAllowed):
        config_changes.propose(obj=rule, m2m=None, requested_by_id=nobody.pk, summary="x")


def test_an_integration_secret_is_shown_once_then_only_rotated(client, maker):
    client.force_login(maker)
    response = client.post(reverse("admin:rewards_integration_add"), {"name": "discuz", "is_active": "on"})
    integration = Integration.objects.get(name="discuz")
    page = response.content.decode()
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    assert integration.secret in page and len(integration.secret) >= 32

    change_page = client.get(reverse("admin:rewards_integration_change", args=[integration.pk])).content.decode()
    assert integration.secret not in change_page
    # Posting a secret through the change form does nothing: the field is not there.
    client.post(
        reverse("admin:rewards_integration_change", args=[integration.pk]),
        {"name": "discuz", "is_active": "on", "secret": "attacker-chosen"},
    )
    integration.refresh_from_db()
    assert integration.secret != "attacker-chosen"

    old = integration.secret
    rotated = client.post(
        reverse("admin:rewards_integration_changelist"),
        {"action": "rotate_secret", "_selected_action": [integration.pk]},
    )
    integration.refresh_from_db()
    assert integration.secret != old and integration.secret in rotated.content.decode()
    # The history records the rotation, never a secret.
    assert integration.history.count() >= 2
    assert "secret" not in {f.name for f in integration.history.model._meta.fields}
