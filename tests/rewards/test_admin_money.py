"""Coins in the rewards admin: typed and shown in coins, stored in minor units (issue 13)."""

import pytest
from django.urls import reverse

from rewards import services
from rewards.models import EarningRule, Reward
from tests.factories import UserFactory, fund

pytestmark = pytest.mark.django_db


def test_a_reward_price_is_typed_in_coins(admin_client):
    data = {"name": "Sticker", "slug": "sticker", "price": "12.5", "kind": "badge", "badge_label": "Fan"}
    data.update({"is_active": "on", "sort_order": "0"})
    for key in ("starts_at", "ends_at"):
        data.update({f"{key}_0": "", f"{key}_1": ""})
    response = admin_client.post(reverse("admin:rewards_reward_add"), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    reward = Reward.objects.get(slug="sticker")
    assert reward.price == 1250
    assert (
        'value="12.50"' in admin_client.get(reverse("admin:rewards_reward_change", args=[reward.pk])).content.decode()
    )
    assert "12.50" in admin_client.get(reverse("admin:rewards_reward_changelist")).content.decode()


def test_earning_rules_show_coins_and_preview_the_award(admin_client):
    rule = EarningRule.objects.get(name="Verified EA")  # 50 coins
    url = reverse("admin:rewards_earningrule_change", args=[rule.pk])
    assert 'value="50.00"' in admin_client.get(url).content.decode()
    data = {"name": rule.name, "event_type": rule.event_type, "amount": "75", "cycle": rule.cycle}
    data.update({"min_upvotes": "0", "max_per_cycle": "0", "once_per_object": "on", "is_active": "on"})
    for key in ("starts_at", "ends_at"):
        data.update({f"{key}_0": "", f"{key}_1": ""})
    page = admin_client.post(url, {**data, "_preview": "Preview"}).content.decode()
    assert "Each award pays 75.00 Credits." in page and "wait for a second staff member" in page
    rule.refresh_from_db()
    assert rule.amount == 5000


def test_bounties_show_coins(admin_client):
    offerer = UserFactory()
    fund(offerer, "20.00")
    bounty = services.bounty_create(offerer_id=offerer.pk, thread_ref="t/1", title="Why?", amount=1234)
    assert "12.34" in admin_client.get(reverse("admin:rewards_bounty_changelist")).content.decode()
    page = admin_client.get(reverse("admin:rewards_bounty_change", args=[bounty.pk])).content.decode()
    assert "12.34" in page and 'name="amount"' not in page
