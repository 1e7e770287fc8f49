"""Prepare a site for the load test (issue 14): migrate, the demo data, and per simulated member
an account with credits, a verified address (forum coins go only to verified ones), an API token
and a signed-in web session; an integration whose secret signs the forum events; a store reward
with no stock limit. Writes what the locustfile needs to one JSON file.

Run by bench/loadtest/run.py (`make loadtest`); on its own:

    .venv/bin/python bench/loadtest/prepare.py --members 20 --out /tmp/goldbook-loadtest.json

Idempotent: members, the reward and the integration are reused by a later run (the integration's
secret is rotated, each run gets new tokens and sessions, and every member's balance is topped up
to at least FUNDING through the wallet, with a key of its own per run).
"""

import argparse
import io
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

FUNDING = 1_000_000  # minor units (10,000 credits): enough for a run's downloads and redemptions
INTEGRATION = "loadtest"
REWARD_SLUG = "loadtest-sticker"
EMAIL = "member{n}@loadtest.example.com"


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--members", type=int, default=20)
    p.add_argument("--out", required=True)
    return p.parse_args()


def member(n: int, run: str) -> dict[str, object]:
    from allauth.account.models import EmailAddress
    from django.conf import settings
    from django.test import Client

    from accounts import services as accounts
    from accounts.models import User
    from wallet import services as wallet
    from wallet.models import SystemAccount, TransferKind

    email = EMAIL.format(n=n)
    user = User.objects.filter(email=email).first() or User.objects.create_user(email, "4829")
    EmailAddress.objects.get_or_create(user=user, email=email, defaults={"primary": True, "verified": True})
    account = wallet.user_account(user_id=user.pk)
    if account.balance < FUNDING:
        wallet.transfer_post(
            from_account=wallet.system_account(name=SystemAccount.ISSUANCE),
            to_account=account,
            amount=FUNDING - account.balance,
            kind=TransferKind.PURCHASE,
            idempotency_key=f"loadtest:fund:{run}:{user.pk}",
        )
    _session, token = accounts.api_session_create(user=user, ip="127.0.0.1", user_agent="goldbook-loadtest")
    client = Client()
    client.force_login(user, backend=settings.AUTHENTICATION_BACKENDS[0])
    return {"email": email, "token": token, "sessionid": client.cookies[settings.SESSION_COOKIE_NAME].value}


def main() -> None:
    args = parse_args()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    import django

    django.setup()
    from django.core.management import call_command

    from downloads.models import Item, ItemKind
    from payments.models import CreditPackage
    from rewards import services as rewards
    from rewards.models import Integration, Reward, RewardKind

    call_command("migrate", verbosity=0)
    call_command("seed_demo", stdout=io.StringIO())
    if Integration.objects.filter(name=INTEGRATION).exists():
        _, secret = rewards.integration_rotate(name=INTEGRATION)
    else:
        _, secret = rewards.integration_create(name=INTEGRATION)
    reward, _ = Reward.objects.get_or_create(
        slug=REWARD_SLUG,
        defaults={"name": "Load-test sticker", "price": 100, "kind": RewardKind.MANUAL, "description": "bench only"},
    )
    run = str(time.time_ns())
    data = {
        "run": run,
        "integration": INTEGRATION,
        "secret": secret,
        "reward_id": reward.pk,
        "package_ids": list(CreditPackage.objects.filter(active=True).values_list("pk", flat=True)[:4]),
        "songs": Item.objects.filter(kind=ItemKind.SONG).count(),
        "members": [member(n, run) for n in range(args.members)],
    }
    Path(args.out).write_text(json.dumps(data))
    print(f"prepared {len(data['members'])} members, reward {reward.pk}, integration {INTEGRATION!r} -> {args.out}")


if __name__ == "__main__":
    main()
