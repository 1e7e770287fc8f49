"""Run by test_sqlite_locking.py in a subprocess: two threads moving money on a SQLite FILE.

Usage: python tests/wallet/sqlite_race.py <db path> <IMMEDIATE|DEFERRED>
(the file may be migrated already: the test copies one migrated per run)
Prints one JSON line: errors, seconds elapsed, final balance.
"""

import json
import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
os.environ.pop("DATABASE_URL", None)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import config.settings as project_settings  # noqa: E402

# The embedded default's own options (IMMEDIATE, WAL, timeout), on a scratch file.
project_settings.DATABASES["default"]["NAME"] = sys.argv[1]
project_settings.DATABASES["default"]["OPTIONS"]["transaction_mode"] = sys.argv[2]

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection, transaction  # noqa: E402

from accounts.models import User  # noqa: E402
from wallet import services  # noqa: E402
from wallet.models import Account, SystemAccount, TransferKind  # noqa: E402

call_command("migrate", verbosity=0)
user = User.objects.create_user("race@example.com", "1234")
account = services.user_account(user_id=user.pk)
revenue = services.system_account(name=SystemAccount.REVENUE)
services.transfer_post(
    from_account=services.system_account(name=SystemAccount.ISSUANCE),
    to_account=account,
    amount=1000,
    kind=TransferKind.PURCHASE,
    idempotency_key="fund",
)
connection.close()
errors: list[str] = []


def spend(i: int) -> None:
    try:
        with transaction.atomic():
            # Read first, then write a moment later: in DEFERRED mode both threads now hold a
            # read snapshot, and the second to write cannot upgrade it ("database is locked").
            Account.objects.get(pk=account.pk)
            time.sleep(0.4)
            services.transfer_post(
                from_account=account,
                to_account=revenue,
                amount=100,
                kind=TransferKind.DOWNLOAD,
                idempotency_key=f"spend-{i}",
            )
    except Exception as exc:  # noqa: BLE001 - reported to the test
        errors.append(f"{type(exc).__name__}: {exc}")
    finally:
        connection.close()


started = time.monotonic()
threads = [threading.Thread(target=spend, args=(i,)) for i in range(2)]
for t in threads:
    t.start()
for t in threads:
    t.join(timeout=60)
elapsed = time.monotonic() - started
account.refresh_from_db()
print(json.dumps({"errors": errors, "elapsed": elapsed, "balance": account.balance}))
