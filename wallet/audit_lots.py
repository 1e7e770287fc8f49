"""`audit_ledger`'s checks of the credit categories (`wallet/lots.py`), in the audit's snapshot:

- per user account, its lots' `remaining` sum to the cached balance;
- each lot's `remaining` is the sum of its entries, and never negative;
- each ledger entry on a user account is matched by lot entries of that transfer on that
  account's lots summing to the same amount (entries from before the account's balance was
  categorised, i.e. older than its opening lot entries, are covered by those instead).
"""

from collections.abc import Callable, Iterator
from typing import Any

from django.db import connection

from .audit import Check

Rows = Callable[[str, list[Any]], list[tuple[Any, ...]]]
Ranges = Callable[[str, int], tuple[int, Iterator[tuple[int, int, float]]]]

ACCOUNT_SUM_SQL = """
SELECT a.id, a.balance, coalesce(l.total, 0) FROM wallet_account a
LEFT JOIN (SELECT account_id, sum(remaining) AS total FROM wallet_creditlot
           WHERE account_id >= %s AND account_id < %s GROUP BY account_id) l ON l.account_id = a.id
WHERE a.user_id IS NOT NULL AND a.id >= %s AND a.id < %s AND a.balance <> coalesce(l.total, 0)
"""

LOT_SQL = """
SELECT l.id, l.account_id, l.category, l.remaining, coalesce(sum(e.amount), 0) FROM wallet_creditlot l
LEFT JOIN wallet_lotentry e ON e.lot_id = l.id
WHERE l.id >= %s AND l.id < %s
GROUP BY l.id, l.account_id, l.category, l.remaining
HAVING l.remaining <> coalesce(sum(e.amount), 0) OR l.remaining < 0
"""

ENTRY_SQL = """
SELECT e.transfer_id, e.account_id, e.amount, coalesce(x.total, 0) FROM wallet_entry e
LEFT JOIN (SELECT le.transfer_id, l.account_id, sum(le.amount) AS total FROM wallet_lotentry le
           JOIN wallet_creditlot l ON l.id = le.lot_id
           WHERE le.transfer_id >= %s AND le.transfer_id < %s GROUP BY le.transfer_id, l.account_id) x
  ON x.transfer_id = e.transfer_id AND x.account_id = e.account_id
WHERE e.transfer_id >= %s AND e.transfer_id < %s AND e.account_version IS NOT NULL
  AND e.amount <> coalesce(x.total, 0)
  AND NOT EXISTS (SELECT 1 FROM wallet_lotentry o JOIN wallet_creditlot ol ON ol.id = o.lot_id
                  WHERE o.transfer_id IS NULL AND ol.account_id = e.account_id AND o.created_at >= e.created_at)
"""


def check_lots(*, rows: Rows, ranges: Ranges, batch_size: int) -> list[Check]:
    accounts = Check("credit categories", "accounts")
    lots = Check("credit lots", "lots")
    entries = Check("lot entries", "transfers")
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM wallet_account WHERE user_id IS NOT NULL")
        accounts.checked = cursor.fetchone()[0]
    _, account_ranges = ranges("wallet_account", batch_size)
    for lo, hi, _fraction in account_ranges:
        for aid, balance, total in rows(ACCOUNT_SUM_SQL, [lo, hi, lo, hi]):
            accounts.add(f"account #{aid}: balance {balance} but its credit categories sum to {total}")
    lots.checked, lot_ranges = ranges("wallet_creditlot", batch_size)
    for lo, hi, _fraction in lot_ranges:
        for lid, aid, category, remaining, total in rows(LOT_SQL, [lo, hi]):
            lots.add(f"lot #{lid} ({category}, account #{aid}): {remaining} left but its entries sum to {total}")
    entries.checked, transfer_ranges = ranges("wallet_transfer", batch_size)
    for lo, hi, _fraction in transfer_ranges:
        for tid, aid, amount, total in rows(ENTRY_SQL, [lo, hi, lo, hi]):
            moved = f"{int(amount):+d} on account #{aid} but its credit lots moved {int(total):+d}"
            entries.add(f"transfer #{tid} moved {moved}")
    return [accounts, lots, entries]
