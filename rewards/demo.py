"""Demo data for rewards (`python manage.py seed_demo`). Idempotent: fixed slugs and event ids."""

from decimal import Decimal
from typing import Any

from allauth.account.models import EmailAddress
from django.contrib.auth.models import Group
from django.core.management.base import OutputWrapper

from accounts.models import User

from . import services
from .models import Integration, Reward, RewardKind

DEMO_FORUM = "demo-forum"
REWARDS: list[tuple[str, str, str, str, RewardKind, dict[str, Any]]] = [
    # slug, name, description, coins, kind, extra
    (
        "premium-ea-access",
        "Premium EA Access",
        "Unlock access to exclusive EAs for 30 days.",
        "100",
        RewardKind.PREMIUM_ACCESS,
        {"group": "Premium", "duration_days": 30},
    ),
    (
        "vip-group-access",
        "VIP Group Access",
        "Join VIP discussion groups for 30 days.",
        "150",
        RewardKind.VIP_GROUP,
        {"group": "VIP", "duration_days": 30},
    ),
    (
        "founders-badge",
        "Founder's Badge",
        "A limited badge next to your name. Only 5 ever made.",
        "40",
        RewardKind.BADGE,
        {"badge_label": "Founder", "stock": 5, "per_user_limit": 1},
    ),
    (
        "title-ea-wizard",
        "Custom title: EA Wizard",
        "Show “EA Wizard” next to your name on leaderboards.",
        "60",
        RewardKind.CUSTOM_TITLE,
        {"title_text": "EA Wizard", "per_user_limit": 1},
    ),
    (
        "strategy-review",
        "1:1 strategy review",
        "A moderator reviews one of your EAs (staff fulfil).",
        "250",
        RewardKind.MANUAL,
        {"stock": 3},
    ),
]
CONTRIBUTORS = [
    ("ana@goldbook.local", "Ana Trader", 3, 2),
    ("ben@goldbook.local", "Ben Quant", 2, 1),
    ("chloe@goldbook.local", "Chloe Pips", 1, 1),
]


def seed(*, stdout: OutputWrapper) -> None:
    from wallet.selectors import default_currency

    currency = default_currency()
    for slug, name, description, coins, kind, extra in REWARDS:
        if Reward.objects.filter(slug=slug).exists():
            continue
        extra = dict(extra)
        group = Group.objects.get_or_create(name=extra.pop("group"))[0] if "group" in extra else None
        Reward.objects.create(
            slug=slug,
            name=name,
            description=description,
            price=currency.to_minor(Decimal(coins)),
            kind=kind,
            group=group,
            **extra,
        )
    Integration.objects.get_or_create(name=DEMO_FORUM, defaults={"secret": "demo-secret-change-me"})
    # Demo earning through the real intake, with fixed event ids: a second run only replays.
    members = []
    for email, display, posts, answers in CONTRIBUTORS:
        user = User.objects.filter(email=email).first() or User.objects.create_user(email, "2580", display_name=display)
        # Forum coins go only to verified addresses: the demo contributors' count as verified.
        EmailAddress.objects.get_or_create(user=user, email=email, defaults={"primary": True, "verified": True})
        members.append(user)
        for p in range(posts):
            for v in range(5):
                _event(
                    f"demo-{email}-post{p}-vote{v}",
                    "post.upvoted",
                    email,
                    "post",
                    f"{email}-{p}",
                    {"upvotes": v + 1, "voter": {"email": f"voter{v}@forum.example"}},
                )
        for a in range(answers):
            _event(f"demo-{email}-answer{a}", "answer.accepted", email, "answer", f"{email}-a{a}", {})
    demo = User.objects.filter(email="demo@goldbook.local").first()
    if demo is not None:
        _event("demo-member-ea", "ea.verified", demo.email, "ea", "demo-ea-1", {})
    stdout.write(f"rewards: {Reward.objects.count()} rewards, demo contributors {', '.join(u.email for u in members)}")


def _event(event_id: str, type_: str, email: str, obj_type: str, obj_id: str, data: dict) -> None:
    services.activity_record(
        source=DEMO_FORUM,
        event_id=event_id,
        type=type_,  # no occurred_at: stamped on arrival, so a second seed_demo is a plain replay
        user_email=email,
        object_type=obj_type,
        object_id=obj_id,
        data=data,
    )
