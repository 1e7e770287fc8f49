"""The ledger audit: recompute everything from entries and compare. Reads only, never fixes.

Every check is one aggregate SQL statement per batch (an id range), returning only the rows that
disagree, so the audit costs a few sequential index scans however large the ledger is and no
Python loop ever touches a healthy row. The SQL is plain enough for both PostgreSQL and SQLite
(window functions need SQLite 3.28+).

The whole audit runs in one transaction: on PostgreSQL REPEATABLE READ, READ ONLY, so every
batch sees the same snapshot while transfers keep committing; on SQLite the transaction holds
the write lock (IMMEDIATE mode), which on the embedded default is short.
"""

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.utils import timezone

from .models import Account, AdjustmentRequest, Currency, Entry, Hold, Transfer

SHOW = 20  # discrepancies listed per check; all of them are counted

# progress(label, fraction done 0..1, rows in that table)
ProgressFn = Callable[[str, float, int], None]


@dataclass
class Check:
    name: str
    unit: str
    checked: int = 0
    problems: list[str] = field(default_factory=list)
    problem_count: int = 0

    def add(self, message: str) -> None:
        self.problem_count += 1
        if len(self.problems) < SHOW:
            self.problems.append(message)

    @property
    def ok(self) -> bool:
        return self.problem_count == 0


@dataclass
class SystemBalance:
    name: str
    currency: str
    balance: int
    entries: int


@dataclass
class CurrencyTotals:
    currency: str
    entries_sum: int = 0  # all entries of the currency: zero when every transfer balances
    user_balances: int = 0  # cached balances of user accounts
    system_balances: int = 0  # sums of system account entries


@dataclass
class AuditResult:
    vendor: str
    checks: list[Check]
    system_balances: list[SystemBalance]
    totals: dict[str, CurrencyTotals]
    currencies: dict[str, Currency]

    @property
    def problem_count(self) -> int:
        return sum(c.problem_count for c in self.checks) + sum(1 for t in self.totals.values() if not _totals_ok(t))

    def money(self, currency: str, minor: int) -> str:
        cur = self.currencies.get(currency)
        value = cur.to_decimal(minor) if cur else Decimal(minor)
        return f"{value:,} {currency}"


def _totals_ok(t: CurrencyTotals) -> bool:
    return t.entries_sum == 0 and t.user_balances + t.system_balances == 0


T_ACCOUNT = Account._meta.db_table
T_ENTRY = Entry._meta.db_table
T_TRANSFER = Transfer._meta.db_table
T_HOLD = Hold._meta.db_table
T_ADJ = AdjustmentRequest._meta.db_table


def _ranges(table: str, batch: int) -> tuple[int, Iterator[tuple[int, int, float]]]:
    """(row count, [lo, hi) id ranges of `batch` ids covering the table, with the fraction done)."""
    with connection.cursor() as cur:
        cur.execute(f"SELECT count(*), min(id), max(id) FROM {table}")  # noqa: S608 (constant names)
        count, lo, hi = cur.fetchone()
    if not count:
        return 0, iter(())
    span = hi - lo + 1
    return count, ((start, start + batch, min(1.0, (start + batch - lo) / span)) for start in range(lo, hi + 1, batch))


def _rows(sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
    with connection.cursor() as cur:
        cur.execute(sql, params)
        return list(cur.fetchall())


ACCOUNT_SQL = f"""
SELECT a.id, a.currency_id, a.balance, a.held, a.version,
       coalesce(e.total, 0), coalesce(e.n, 0), coalesce(e.nv, 0), coalesce(e.maxv, 0),
       coalesce(h.pending, 0), u.email
  FROM {T_ACCOUNT} a
  LEFT JOIN {{user_table}} u ON u.id = a.user_id
  LEFT JOIN (SELECT account_id, sum(amount) AS total, count(*) AS n,
                    count(account_version) AS nv, max(account_version) AS maxv
               FROM {T_ENTRY} WHERE account_id >= %s AND account_id < %s GROUP BY account_id) e
         ON e.account_id = a.id
  LEFT JOIN (SELECT account_id, sum(amount) AS pending
               FROM {T_HOLD} WHERE status = 'pending' AND account_id >= %s AND account_id < %s
              GROUP BY account_id) h
         ON h.account_id = a.id
 WHERE a.user_id IS NOT NULL AND a.id >= %s AND a.id < %s
   AND (a.balance <> coalesce(e.total, 0) OR a.version <> coalesce(e.n, 0)
        OR coalesce(e.nv, 0) <> coalesce(e.n, 0) OR coalesce(e.maxv, 0) <> coalesce(e.n, 0)
        OR a.held <> coalesce(h.pending, 0) OR a.balance < 0 OR coalesce(e.total, 0) < 0
        OR a.held < 0 OR a.held > a.balance)
 ORDER BY a.id
"""

# Each user account's entries in the order they were written: versions 1, 2, 3… and every
# balance_after equal to the previous one plus the entry's amount, never below zero.
CHAIN_SQL = f"""
SELECT account_id, id, account_version, amount, balance_after, prev_version, prev_balance
  FROM (SELECT e.account_id, e.id, e.account_version, e.amount, e.balance_after,
               lag(e.account_version) OVER w AS prev_version,
               lag(e.balance_after) OVER w AS prev_balance
          FROM {T_ENTRY} e JOIN {T_ACCOUNT} a ON a.id = e.account_id
         WHERE a.user_id IS NOT NULL AND e.account_id >= %s AND e.account_id < %s
        WINDOW w AS (PARTITION BY e.account_id ORDER BY e.id)) c
 WHERE account_version IS NULL OR balance_after IS NULL OR balance_after < 0
    OR account_version <> coalesce(prev_version, 0) + 1
    OR balance_after <> coalesce(prev_balance, 0) + amount
 ORDER BY account_id, id
"""

ENTRY_COUNT_SQL = f"SELECT count(*) FROM {T_ENTRY} WHERE account_id >= %s AND account_id < %s"

SYSTEM_SQL = f"""
SELECT a.id, a.system_name, a.currency_id, a.balance, a.held, a.version,
       coalesce(sum(e.amount), 0), count(e.id), count(e.balance_after) + count(e.account_version)
  FROM {T_ACCOUNT} a LEFT JOIN {T_ENTRY} e ON e.account_id = a.id
 WHERE a.user_id IS NULL
 GROUP BY a.id, a.system_name, a.currency_id, a.balance, a.held, a.version
 ORDER BY a.currency_id, a.system_name
"""

USER_TOTALS_SQL = f"""
SELECT currency_id, coalesce(sum(balance), 0) FROM {T_ACCOUNT} WHERE user_id IS NOT NULL GROUP BY currency_id
"""

TRANSFER_SQL = f"""
SELECT t.id, t.kind, t.amount, t.currency_id, t.debit_account_id, t.credit_account_id,
       count(e.id), coalesce(sum(e.amount), 0),
       coalesce(sum(CASE WHEN e.account_id = t.debit_account_id THEN e.amount END), 0),
       coalesce(sum(CASE WHEN e.account_id = t.credit_account_id THEN e.amount END), 0),
       da.currency_id, ca.currency_id
  FROM {T_TRANSFER} t
  JOIN {T_ACCOUNT} da ON da.id = t.debit_account_id
  JOIN {T_ACCOUNT} ca ON ca.id = t.credit_account_id
  LEFT JOIN {T_ENTRY} e ON e.transfer_id = t.id
 WHERE t.id >= %s AND t.id < %s
 GROUP BY t.id, t.kind, t.amount, t.currency_id, t.debit_account_id, t.credit_account_id,
          da.currency_id, ca.currency_id
HAVING count(e.id) <> 2 OR coalesce(sum(e.amount), 0) <> 0
    OR coalesce(sum(CASE WHEN e.account_id = t.debit_account_id THEN e.amount END), 0) <> -t.amount
    OR coalesce(sum(CASE WHEN e.account_id = t.credit_account_id THEN e.amount END), 0) <> t.amount
    OR da.currency_id <> t.currency_id OR ca.currency_id <> t.currency_id
 ORDER BY t.id
"""

ENTRY_TOTALS_SQL = f"""
SELECT a.currency_id, count(*), coalesce(sum(e.amount), 0)
  FROM {T_ENTRY} e JOIN {T_ACCOUNT} a ON a.id = e.account_id
 WHERE e.transfer_id >= %s AND e.transfer_id < %s
 GROUP BY a.currency_id
"""

REVERSAL_SQL = f"""
SELECT r.id, o.id, r.amount, o.amount, r.debit_account_id, r.credit_account_id,
       o.debit_account_id, o.credit_account_id
  FROM {T_TRANSFER} r JOIN {T_TRANSFER} o ON o.id = r.reverses_id
 WHERE r.id >= %s AND r.id < %s
   AND (r.amount > o.amount OR r.debit_account_id <> o.credit_account_id
        OR r.credit_account_id <> o.debit_account_id)
"""

HOLD_SQL = f"""
SELECT h.id, h.status, h.amount, h.captured_amount, h.account_id, t.id, t.amount, t.debit_account_id
  FROM {T_HOLD} h LEFT JOIN {T_TRANSFER} t ON t.hold_id = h.id
 WHERE h.id >= %s AND h.id < %s
   AND ((h.status = 'captured'
         AND (t.id IS NULL OR t.amount <> h.captured_amount OR t.debit_account_id <> h.account_id))
        OR (h.status <> 'captured' AND t.id IS NOT NULL))
 ORDER BY h.id
"""

ADJUSTMENT_SQL = f"""
SELECT r.id, r.status, r.amount, r.account_id, t.id, t.kind, t.amount, t.debit_account_id, t.credit_account_id
  FROM {T_ADJ} r LEFT JOIN {T_TRANSFER} t ON t.id = r.transfer_id
 WHERE (r.status = 'approved'
        AND (t.id IS NULL OR t.kind <> 'adjustment' OR t.amount <> abs(r.amount)
             OR (r.amount > 0 AND t.credit_account_id <> r.account_id)
             OR (r.amount < 0 AND t.debit_account_id <> r.account_id)))
    OR (r.status <> 'approved' AND r.transfer_id IS NOT NULL)
 ORDER BY r.id
"""


def _noop(label: str, fraction: float, rows: int) -> None:
    pass


def run_audit(*, batch_size: int = 20_000, progress: ProgressFn = _noop) -> AuditResult:
    """Run every check in one consistent snapshot and return what disagrees."""
    outermost = not connection.in_atomic_block  # inside a caller's transaction, use its snapshot
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cur:
                cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        return _audit(batch_size=max(1, batch_size), progress=progress)


def _audit(*, batch_size: int, progress: ProgressFn) -> AuditResult:
    currencies = {c.code: c for c in Currency.objects.all()}
    totals: dict[str, CurrencyTotals] = {}

    def tot(code: str) -> CurrencyTotals:
        return totals.setdefault(code, CurrencyTotals(currency=code))

    accounts = Check("user accounts", "accounts")
    chains = Check("entry chains", "entries")  # every entry in the range; system ones are checked below
    transfers = Check("transfers", "transfers")
    reversals = Check("reversals", "transfers")
    holds = Check("holds", "holds")
    adjustments = Check("adjustments", "requests")
    system = Check("system accounts", "accounts")

    # --- user accounts: cached balance/held/version against entries and holds ---------------
    account_sql = ACCOUNT_SQL.format(user_table=get_user_model()._meta.db_table)
    total, ranges = _ranges(T_ACCOUNT, batch_size)
    accounts.checked = Account.objects.filter(user__isnull=False).count()
    for lo, hi, fraction in ranges:
        for aid, cur_code, bal, held, ver, total_e, n, nv, maxv, pending, email in _rows(
            account_sql, [lo, hi, lo, hi, lo, hi]
        ):
            owner = f"account #{aid} ({email}, {cur_code})"
            if bal != total_e:
                accounts.add(f"{owner}: cached balance {bal} but its entries sum to {total_e}")
            if total_e < 0 or bal < 0:
                accounts.add(f"{owner}: negative balance (cached {bal}, from entries {total_e})")
            if ver != n or nv != n or maxv != n:
                accounts.add(f"{owner}: version {ver} but {n} entries (last version {maxv}, {nv} versioned)")
            if held != pending:
                accounts.add(f"{owner}: held {held} but pending holds sum to {pending}")
            if held < 0 or held > bal:
                accounts.add(f"{owner}: held {held} outside 0..balance {bal}")
        for aid, eid, ver, amount, after, prev_ver, prev_bal in _rows(CHAIN_SQL, [lo, hi]):
            chains.add(
                f"account #{aid} entry #{eid}: version {ver} after {prev_ver}, balance_after {after} "
                f"after {prev_bal} {amount:+d}"
            )
        chains.checked += _rows(ENTRY_COUNT_SQL, [lo, hi])[0][0]
        progress("accounts and their entries", fraction, total)

    # --- system accounts: never cached, balance = sum of entries -----------------------------
    system_balances = []
    for aid, name, cur_code, bal, held, ver, total_e, n, versioned in _rows(SYSTEM_SQL, []):
        system.checked += 1
        system_balances.append(SystemBalance(name=name, currency=cur_code, balance=total_e, entries=n))
        tot(cur_code).system_balances += total_e
        if bal or held or ver:
            system.add(f"system account #{aid} {name}: cached balance/held/version {bal}/{held}/{ver}, expected 0")
        if versioned:
            system.add(f"system account #{aid} {name}: {versioned} balance_after/version values on its entries")
    for cur_code, user_total in _rows(USER_TOTALS_SQL, []):
        tot(cur_code).user_balances += int(user_total)

    # --- transfers: two entries, minus on the debit, plus on the credit, one currency --------
    total, ranges = _ranges(T_TRANSFER, batch_size)
    transfers.checked = total
    reversals.checked = Transfer.objects.filter(reverses__isnull=False).count()
    for lo, hi, fraction in ranges:
        for row in _rows(TRANSFER_SQL, [lo, hi]):
            tid, kind, amount, cur_code, debit, credit, n, esum, dsum, csum, dcur, ccur = row
            what = f"transfer #{tid} ({kind}, {amount} {cur_code}, #{debit} -> #{credit})"
            if n != 2:
                transfers.add(f"{what}: {n} entries, expected 2")
            if esum != 0:
                transfers.add(f"{what}: entries sum to {esum}, not 0")
            if dsum != -amount or csum != amount:
                transfers.add(f"{what}: debit side {dsum}, credit side {csum}, expected {-amount}/{amount}")
            if dcur != cur_code or ccur != cur_code:
                transfers.add(f"{what}: accounts in {dcur}/{ccur}, transfer in {cur_code}")
        for cur_code, _count, esum in _rows(ENTRY_TOTALS_SQL, [lo, hi]):
            tot(cur_code).entries_sum += int(esum)
        for rid, oid, ramt, oamt, rd, rc, od, oc in _rows(REVERSAL_SQL, [lo, hi]):
            reversals.add(
                f"transfer #{rid} reverses #{oid} but moves {ramt} #{rd} -> #{rc}, not at most {oamt} #{oc} -> #{od}"
            )
        progress("transfers", fraction, total)

    # --- holds: a captured hold has exactly one capture of its captured amount ---------------
    total, ranges = _ranges(T_HOLD, batch_size)
    holds.checked = total
    for lo, hi, fraction in ranges:
        for hid, status, amount, captured, account_id, tid, tamount, tdebit in _rows(HOLD_SQL, [lo, hi]):
            if status == "captured" and tid is None:
                holds.add(f"hold #{hid} is captured ({captured} of {amount}) but has no capture transfer")
            elif status == "captured":
                holds.add(
                    f"hold #{hid} captured {captured} from account #{account_id} but its capture "
                    f"transfer #{tid} moves {tamount} from account #{tdebit}"
                )
            else:
                holds.add(f"hold #{hid} is {status} but has capture transfer #{tid}")
        progress("holds", fraction, total)

    # --- adjustments: approved ones posted exactly as requested ------------------------------
    adjustments.checked = AdjustmentRequest.objects.count()
    for rid, status, amount, account_id, tid, kind, tamount, tdebit, tcredit in _rows(ADJUSTMENT_SQL, []):
        if tid is None and status == "approved":
            adjustments.add(f"adjustment #{rid} is approved but has no transfer")
        elif status != "approved":
            adjustments.add(f"adjustment #{rid} is {status} but links transfer #{tid}")
        else:
            adjustments.add(
                f"adjustment #{rid} ({amount:+d} on account #{account_id}) posted as transfer #{tid} "
                f"({kind}, {tamount}, #{tdebit} -> #{tcredit})"
            )

    from .audit_lots import check_lots  # it builds on this module's Check

    categories = check_lots(rows=_rows, ranges=_ranges, batch_size=batch_size)
    progress("credit categories", 1.0, categories[0].checked)
    for code in currencies:
        tot(code)
    return AuditResult(
        vendor=connection.vendor,
        checks=[accounts, chains, system, transfers, reversals, holds, adjustments, *categories],
        system_balances=system_balances,
        totals=totals,
        currencies=currencies,
    )


def totals_ok(t: CurrencyTotals) -> bool:
    return _totals_ok(t)


def record_audit(result: AuditResult) -> int:
    """Tell the site an audit finished (Event.LEDGER_AUDITED: the economy page shows the last
    result). Written after the audit's read-only snapshot, in a transaction of its own."""
    from core.events import Event, record

    payload = {
        "finished_at": timezone.now().isoformat(),
        "problem_count": result.problem_count,
        "vendor": result.vendor,
        "checks": {c.name: {"checked": c.checked, "problems": c.problem_count} for c in result.checks},
    }
    with transaction.atomic():
        return record(Event.LEDGER_AUDITED, payload)
