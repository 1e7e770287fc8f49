"""Fraud-signal figures, run by hand (needs DATABASE_URL on PostgreSQL; the DB is migrated and
filled with a generated history once, then reused):

    DATABASE_URL=postgres://…/gb_fraud_bench .venv/bin/python bench/fraud.py [--members 10000]

Times each signal of the review queue (portal.fraud, best of 3) over a history of N members with
5 payments, 1 referral, 5 quality awards (3 votes each) and a sign-in address per member, a few
of each kind of abuse planted in it, and prints the plan of the slowest one.
"""

import argparse
import os
import random
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.models import KnownAddress, User  # noqa: E402
from payments.models import Payment, PaymentStatus, Provider  # noqa: E402
from portal.fraud import queue  # noqa: E402
from rewards.models import Award, EarningRule, ObjectVote, Referral  # noqa: E402

BATCH = 5000


def generate(n: int) -> None:
    rng = random.Random(13)
    now = timezone.now()
    User.objects.bulk_create(
        [User(email=f"fraud-bench-{i}@example.com", password="!") for i in range(n)], batch_size=BATCH
    )
    ids = list(User.objects.filter(email__startswith="fraud-bench-").order_by("pk").values_list("pk", flat=True))
    payments = []
    for i, uid in enumerate(ids):
        for _j in range(5):
            at = now - timedelta(days=rng.randint(0, 80), hours=rng.randint(0, 23))
            wallet = "0x" + (f"{i % 50:040x}" if i % 200 == 0 else f"{uid:040x}")  # 1 in 200 share a wallet
            payments.append(
                Payment(
                    user_id=uid,
                    usd_cents=rng.choice([2500, 5000, 10000]),
                    base_credits=2500,
                    provider=Provider.E9TH,
                    status=PaymentStatus.COMPLETED,
                    completed_at=at,
                    wallet_address=wallet,
                )
            )
    Payment.objects.bulk_create(payments, batch_size=BATCH)
    KnownAddress.objects.bulk_create(
        [KnownAddress(user_id=uid, ip=f"10.{uid // 65536 % 256}.{uid // 256 % 256}.{uid % 256}") for uid in ids],
        batch_size=BATCH,
    )
    referrals = [
        Referral(referrer_id=ids[i - 1], referred_id=uid, code="b", ip=f"10.9.{i % 250}.1")
        for i, uid in enumerate(ids)
        if i and i % 3
    ]
    Referral.objects.bulk_create(referrals, batch_size=BATCH)
    rule = EarningRule.objects.create(name="Bench quality", event_type="post.upvoted", amount=500, min_upvotes=3)
    awards, votes = [], []
    for uid in ids:
        for j in range(5):
            key = f"bench:post:{uid}-{j}"
            awards.append(
                Award(
                    rule=rule,
                    user_id=uid,
                    object_key=key,
                    amount=500,
                    base_amount=500,
                    created_at=now - timedelta(days=rng.randint(0, 80)),
                )
            )
            votes += [ObjectVote(object_key=key, voter_key=f"v{rng.randint(0, n)}") for _ in range(3)]
    Award.objects.bulk_create(awards, batch_size=BATCH)
    ObjectVote.objects.bulk_create(votes, batch_size=BATCH, ignore_conflicts=True)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--members", type=int, default=10_000)
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    if not User.objects.filter(email__startswith="fraud-bench-").exists():
        started = time.perf_counter()
        generate(args.members)
        print(f"generated {args.members:,} members in {time.perf_counter() - started:.1f}s")
    print(
        f"payments {Payment.objects.count():,}, referrals {Referral.objects.count():,}, "
        f"awards {Award.objects.count():,}, votes {ObjectVote.objects.count():,}"
    )
    total = 0.0
    for compute in queue.SIGNALS:
        best, found = float("inf"), 0
        for _ in range(3):
            started = time.perf_counter()
            found = len(compute())
            best = min(best, time.perf_counter() - started)
        total += best
        print(f"{compute.__name__:20} {best * 1000:8.1f} ms  {found} findings")
    print(f"{'all signals':20} {total * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
