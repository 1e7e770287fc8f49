"""Property tests: random event streams never beat the caps, replays change nothing, and the
leaderboard total is always awards minus reversals (and equal to a rebuild from the ledger)."""

import pytest
from django.db import transaction
from django.db.models import Sum
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rewards import services
from rewards.models import Award, AwardStatus, EarningTotal
from tests.factories import UserFactory
from wallet import services as wallet
from wallet.errors import InsufficientFunds
from wallet.models import SystemAccount, Transfer
from wallet.selectors import balance_for_user

pytestmark = pytest.mark.django_db

CAP = 3000  # 30 coins: bites after two quality posts or one verified EA

KINDS = [
    "post.upvoted",
    "post.upvoted",
    "post.unvoted",
    "post.deleted",
    "answer.accepted",
    "answer.unaccepted",
    "ea.verified",
    "spend",
    "drain",
    "replay",
]
# (kind, user 0-1, object 0-1 or a spend/replay number, voter 0-6)
step = st.tuples(st.sampled_from(KINDS), st.integers(0, 1), st.integers(0, 60), st.integers(0, 6))


def _snapshot(users):
    return (
        Transfer.objects.count(),
        tuple(balance_for_user(user_id=u.pk).balance for u in users),
        tuple(EarningTotal.objects.order_by("pk").values_list("coins", flat=True)),
    )


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)
@given(steps=st.lists(step, min_size=1, max_size=30))
# Always cover a reversal that the balance cannot cover (debt), then its recovery.
@example(
    steps=[
        ("answer.accepted", 0, 0, 0),
        ("drain", 0, 0, 0),
        ("answer.unaccepted", 0, 0, 0),
        ("ea.verified", 0, 1, 0),
        ("replay", 0, 1, 0),
    ]
)
def test_random_event_streams_keep_the_invariants(steps, django_settings_cap):
    with transaction.atomic():
        users = [UserFactory(), UserFactory()]
        sent: list[dict] = []
        for n, (kind, who, obj, voter) in enumerate(steps):
            user = users[who]
            if kind == "drain":
                kind, obj = "spend", balance_for_user(user_id=user.pk).available // 100 or 1
            if kind == "spend":
                try:
                    wallet.transfer_post(
                        from_account=wallet.user_account(user_id=user.pk),
                        to_account=wallet.system_account(name=SystemAccount.REVENUE),
                        amount=max(obj, 1) * 100,
                        kind="download",
                        idempotency_key=f"prop-spend-{n}",
                    )
                except InsufficientFunds:
                    pass
                continue
            if kind == "replay":
                if sent:
                    before = _snapshot(users)
                    again = services.activity_record(**sent[obj % len(sent)])
                    assert not again.created
                    assert _snapshot(users) == before
                continue
            object_type = "ea" if kind == "ea.verified" else ("post" if kind.startswith("post.") else "answer")
            event = {
                "source": "forum",
                "event_id": f"e{n}",
                "type": kind,
                "user_email": user.email,
                "object_type": object_type,
                "object_id": f"{object_type}{obj % 2}",
                "data": {"voter": {"email": f"v{voter}@forum.test"}} if kind.startswith("post.") else {},
            }
            services.activity_record(**event)
            sent.append(event)

        for user in users:
            active = Award.objects.filter(user=user, status=AwardStatus.ACTIVE)
            capped = active.filter(counts_toward_cap=True).aggregate(s=Sum("amount"))["s"] or 0
            assert capped <= CAP
            assert balance_for_user(user_id=user.pk).balance >= 0
            earned = active.aggregate(s=Sum("amount"))["s"] or 0
            total = EarningTotal.objects.filter(period="all", user=user).values_list("coins", flat=True).first() or 0
            assert total == earned  # awards minus reversals (debts included), bounties none here

        incremental = sorted(
            EarningTotal.objects.filter(coins__gt=0).values_list("period", "bucket", "user_id", "coins")
        )
        services.leaderboards_rebuild()
        rebuilt = sorted(EarningTotal.objects.filter(coins__gt=0).values_list("period", "bucket", "user_id", "coins"))
        assert rebuilt == incremental
        transaction.set_rollback(True)


@pytest.fixture
def django_settings_cap(settings):
    settings.REWARDS_DAILY_CAP = str(CAP // 100)
    return CAP
