import threading
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.utils import timezone

from rewards import services
from rewards.errors import LimitReached, OutOfStock, RedemptionNotPending, RewardUnavailable
from rewards.models import GroupGrant, Redemption, RedemptionStatus, Reward, RewardProfile, UserBadge
from rewards.selectors import store_items
from tests.factories import RewardFactory, UserFactory, fund
from wallet.errors import IdempotencyConflict, InsufficientFunds
from wallet.models import Transfer, TransferKind
from wallet.selectors import balance_for_user

pytestmark = pytest.mark.django_db


def bal(user):
    return balance_for_user(user_id=user.pk).balance


def test_badge_reward_debits_and_grants_badge():
    user = UserFactory()
    fund(user, "120.00")
    reward = RewardFactory(price=10000, kind="badge", badge_label="Gold Member")
    result = services.reward_redeem(user_id=user.pk, reward_id=reward.pk)
    assert result.created and result.redemption.status == RedemptionStatus.FULFILLED
    assert bal(user) == 2000
    assert list(UserBadge.objects.filter(user=user).values_list("label", flat=True)) == ["Gold Member"]
    transfer = result.redemption.transfer
    assert transfer.kind == TransferKind.REDEEM and transfer.amount == 10000


def test_premium_and_vip_rewards_grant_group_membership_that_expires():
    user = UserFactory()
    fund(user, "500.00")
    premium = Group.objects.create(name="Premium")
    reward = RewardFactory(price=10000, kind="premium_access", group=premium, duration_days=30)
    services.reward_redeem(user_id=user.pk, reward_id=reward.pk)
    services.reward_redeem(user_id=user.pk, reward_id=reward.pk)  # renewal extends
    assert user.groups.filter(name="Premium").exists()
    grants = list(GroupGrant.objects.filter(user=user).order_by("expires_at"))
    assert (grants[1].expires_at - grants[0].expires_at).days == 30
    assert services.group_grants_expire(now=timezone.now() + timedelta(days=31)) == 0  # still covered by renewal
    assert user.groups.filter(name="Premium").exists()
    assert services.group_grants_expire(now=timezone.now() + timedelta(days=61)) == 1
    assert not user.groups.filter(name="Premium").exists()


def test_custom_title_sets_profile_title():
    user = UserFactory()
    fund(user, "100.00")
    reward = RewardFactory(price=100, kind="custom_title", title_text="EA Wizard")
    services.reward_redeem(user_id=user.pk, reward_id=reward.pk)
    assert RewardProfile.objects.get(user=user).title == "EA Wizard"


def test_insufficient_funds_rolls_back_stock_and_redemption():
    user = UserFactory()
    fund(user, "1.00")
    reward = RewardFactory(price=10000, stock=1)
    with pytest.raises(InsufficientFunds):
        services.reward_redeem(user_id=user.pk, reward_id=reward.pk)
    reward.refresh_from_db()
    assert reward.stock == 1 and not Redemption.objects.exists() and bal(user) == 100


def test_limits_stock_window_and_idempotency():
    user = UserFactory()
    fund(user, "100.00")
    limited = RewardFactory(price=100, per_user_limit=1)
    services.reward_redeem(user_id=user.pk, reward_id=limited.pk, idempotency_key="a")
    assert not services.reward_redeem(user_id=user.pk, reward_id=limited.pk, idempotency_key="a").created
    with pytest.raises(LimitReached):
        services.reward_redeem(user_id=user.pk, reward_id=limited.pk, idempotency_key="b")
    with pytest.raises(IdempotencyConflict):
        services.reward_redeem(user_id=user.pk, reward_id=RewardFactory(price=100).pk, idempotency_key="a")
    one = RewardFactory(price=100, stock=1)
    services.reward_redeem(user_id=user.pk, reward_id=one.pk)
    with pytest.raises(OutOfStock):
        services.reward_redeem(user_id=user.pk, reward_id=one.pk)
    future = RewardFactory(price=100, starts_at=timezone.now() + timedelta(days=1))
    with pytest.raises(RewardUnavailable):
        services.reward_redeem(user_id=user.pk, reward_id=future.pk)


def test_manual_reward_waits_for_staff_then_cancel_refunds_and_restocks():
    user, staff = UserFactory(), UserFactory(is_staff=True)
    fund(user, "10.00")
    reward = RewardFactory(price=400, kind="manual", stock=2)
    r = services.reward_redeem(user_id=user.pk, reward_id=reward.pk).redemption
    assert r.status == RedemptionStatus.PENDING and bal(user) == 600
    cancelled = services.redemption_cancel(redemption_id=r.pk, staff_id=staff.pk, note="out of slots")
    assert cancelled.status == RedemptionStatus.CANCELLED and bal(user) == 1000
    assert cancelled.refund_transfer.kind == TransferKind.REFUND
    assert cancelled.refund_transfer.reverses_id == r.transfer_id
    assert Reward.objects.get(pk=reward.pk).stock == 2
    with pytest.raises(RedemptionNotPending):
        services.redemption_cancel(redemption_id=r.pk, staff_id=staff.pk)
    r2 = services.reward_redeem(user_id=user.pk, reward_id=reward.pk).redemption
    assert services.redemption_fulfil(redemption_id=r2.pk, staff_id=staff.pk).status == RedemptionStatus.FULFILLED


def test_store_items_show_affordability():
    user = UserFactory()
    fund(user, "2.00")
    RewardFactory(price=200, name="A")
    RewardFactory(price=201, name="B")
    items = {i.reward.name: i for i in store_items(user_id=user.pk)}
    assert items["A"].affordable and items["A"].can_redeem
    assert not items["B"].affordable


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_last_item_cannot_be_sold_twice_under_concurrency():
    reward = RewardFactory(price=100, stock=1)
    buyers = [UserFactory() for _ in range(6)]
    for b in buyers:
        fund(b, "5.00")
    barrier = threading.Barrier(len(buyers))
    outcomes: list[str] = []

    def buy(user_id):
        try:
            barrier.wait()
            services.reward_redeem(user_id=user_id, reward_id=reward.pk)
            outcomes.append("ok")
        except OutOfStock:
            outcomes.append("out")
        finally:
            connection.close()

    threads = [threading.Thread(target=buy, args=(b.pk,)) for b in buyers]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["ok"] + ["out"] * 5
    assert Reward.objects.get(pk=reward.pk).stock == 0
    assert Redemption.objects.count() == 1
    assert Transfer.objects.filter(kind="redeem").count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_one_user_racing_the_per_user_limit_gets_one():
    reward = RewardFactory(price=100, per_user_limit=1)
    user = UserFactory()
    fund(user, "50.00")
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def buy(i):
        try:
            barrier.wait()
            services.reward_redeem(user_id=user.pk, reward_id=reward.pk, idempotency_key=f"k{i}")
            outcomes.append("ok")
        except LimitReached:
            outcomes.append("limit")
        finally:
            connection.close()

    threads = [threading.Thread(target=buy, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["limit", "limit", "limit", "ok"]
    assert bal(user) == 4900
