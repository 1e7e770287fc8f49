"""Random sequences of ledger operations against a pure-Python model of what they should do.

Transfers, holds, captures, releases, expiries and reversals over three users, with idempotency
keys drawn from a small pool so retries (same key, same parameters) and conflicts (same key,
other parameters) come up constantly. After every step the database must agree with the model
(balances, held, system balances), the entries must sum to zero and nothing may be negative; at
the end of every run the full `audit_ledger` must find nothing.
"""

import itertools
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, invariant, multiple, rule, run_state_machine_as_test

from accounts.models import User
from wallet import services
from wallet.audit import run_audit
from wallet.errors import HoldNotPending, IdempotencyConflict, InsufficientFunds, InvalidAmount
from wallet.models import Account, Entry, Hold, HoldStatus, SystemAccount, Transfer, TransferKind

pytestmark = pytest.mark.django_db

N_USERS = 3
emails = itertools.count()
amounts = st.integers(min_value=1, max_value=1500)
keys = st.sampled_from([f"k{i}" for i in range(5)])
users = st.integers(min_value=0, max_value=N_USERS - 1)


@dataclass
class ModelHold:
    account: int
    amount: int
    status: str = HoldStatus.PENDING
    captured: int = 0
    capture_to: int | None = None
    capture_id: int | None = None


@dataclass
class ModelTransfer:
    debit: int
    credit: int
    amount: int
    reversal_id: int | None = None


class LedgerMachine(RuleBasedStateMachine):
    holds = Bundle("holds")
    transfers = Bundle("transfers")

    def __init__(self) -> None:
        super().__init__()
        # Each run in a savepoint that is rolled back: runs cannot see each other's rows.
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        people = [User.objects.create(email=f"sm{next(emails)}@example.com") for _ in range(N_USERS)]
        self.accounts = [services.user_account(user_id=u.pk) for u in people]
        self.issuance = services.system_account(name=SystemAccount.ISSUANCE)
        self.revenue = services.system_account(name=SystemAccount.REVENUE)
        self.by_id = {a.pk: a for a in [*self.accounts, self.issuance, self.revenue]}
        self.balance = {a.pk: 0 for a in self.by_id.values()}
        self.held = {a.pk: 0 for a in self.accounts}
        self.transfer_keys: dict[str, tuple[tuple, int]] = {}
        self.hold_keys: dict[str, tuple[tuple, int]] = {}
        self.model_transfers: dict[int, ModelTransfer] = {}
        self.model_holds: dict[int, ModelHold] = {}

    def teardown(self) -> None:
        try:
            result = run_audit()
            problems = [p for c in result.checks for p in c.problems]
            assert result.problem_count == 0, problems
        finally:
            transaction.set_rollback(True)
            self._atomic.__exit__(None, None, None)

    # --- model helpers -----------------------------------------------------------------------

    def is_user(self, account_id: int) -> bool:
        return account_id in self.held

    def available(self, account_id: int) -> int:
        return self.balance[account_id] - self.held[account_id]

    def move(self, debit: int, credit: int, amount: int, transfer_id: int) -> None:
        self.balance[debit] -= amount
        self.balance[credit] += amount
        self.model_transfers[transfer_id] = ModelTransfer(debit, credit, amount)

    def post(self, debit: int, credit: int, amount: int, key: str, kind: str):
        """Call transfer_post and check the outcome the model predicts; return the transfer id."""
        call = dict(
            from_account=self.by_id[debit],
            to_account=self.by_id[credit],
            amount=amount,
            kind=kind,
            idempotency_key=key,
        )
        if debit == credit:
            with pytest.raises(InvalidAmount):
                services.transfer_post(**call)
            return None
        params = (debit, credit, amount, kind)
        if key in self.transfer_keys:
            earlier, transfer_id = self.transfer_keys[key]
            if earlier != params:
                with pytest.raises(IdempotencyConflict):
                    services.transfer_post(**call)
                return None
            assert services.transfer_post(**call).pk == transfer_id  # a retry: nothing posted
            return None
        if self.is_user(debit) and self.available(debit) < amount:
            with pytest.raises(InsufficientFunds) as exc:
                services.transfer_post(**call)
            assert exc.value.available == self.available(debit)
            return None
        transfer = services.transfer_post(**call)
        self.transfer_keys[key] = (params, transfer.pk)
        self.move(debit, credit, amount, transfer.pk)
        return transfer.pk

    def to_account(self, target: int) -> int:
        """0..N-1 are users, N is revenue."""
        return self.revenue.pk if target == N_USERS else self.accounts[target].pk

    # --- rules -------------------------------------------------------------------------------

    @rule(target=transfers, user=users, amount=amounts, key=keys)
    def fund(self, user, amount, key):
        tid = self.post(self.issuance.pk, self.accounts[user].pk, amount, f"t-{key}", TransferKind.PURCHASE)
        return multiple() if tid is None else tid

    @rule(
        target=transfers,
        user=users,
        target_account=st.integers(0, N_USERS),
        amount=amounts,
        key=keys,
    )
    def spend(self, user, target_account, amount, key):
        credit = self.to_account(target_account)
        kind = TransferKind.REDEEM if credit == self.revenue.pk else TransferKind.BOUNTY
        tid = self.post(self.accounts[user].pk, credit, amount, f"t-{key}", kind)
        return multiple() if tid is None else tid

    @rule(target=holds, user=users, amount=amounts, key=keys, expired=st.booleans())
    def place_hold(self, user, amount, key, expired):
        account = self.accounts[user].pk
        call = dict(
            account=self.by_id[account],
            amount=amount,
            kind=TransferKind.DOWNLOAD,
            idempotency_key=f"h-{key}",
            expires_at=timezone.now() + (timedelta(seconds=-1) if expired else timedelta(hours=1)),
        )
        params = (account, amount)
        if f"h-{key}" in self.hold_keys:
            earlier, hold_id = self.hold_keys[f"h-{key}"]
            if earlier != params:
                with pytest.raises(IdempotencyConflict):
                    services.hold_place(**call)
            else:
                assert services.hold_place(**call).pk == hold_id
            return multiple()
        if self.available(account) < amount:
            with pytest.raises(InsufficientFunds):
                services.hold_place(**call)
            return multiple()
        hold = services.hold_place(**call)
        self.hold_keys[f"h-{key}"] = (params, hold.pk)
        self.model_holds[hold.pk] = ModelHold(account=account, amount=amount)
        self.held[account] += amount
        return hold.pk

    @rule(target=transfers, hold_id=holds, share=st.sampled_from([0, 0.5, 1]), target_account=st.integers(0, N_USERS))
    def capture(self, hold_id, share, target_account):
        h = self.model_holds[hold_id]
        amount = int(h.amount * share)
        to = self.to_account(target_account)
        call = dict(hold_id=hold_id, amount=amount, to_account=self.by_id[to])
        if h.status == HoldStatus.CAPTURED and h.captured == amount and h.capture_to == to:
            assert services.hold_capture(**call).pk == h.capture_id
            return multiple()
        if amount == 0 and h.status in (HoldStatus.RELEASED, HoldStatus.EXPIRED):
            assert services.hold_capture(**call) is None
            return multiple()
        if h.status != HoldStatus.PENDING:
            with pytest.raises(HoldNotPending):
                services.hold_capture(**call)
            return multiple()
        if amount == 0:
            assert services.hold_capture(**call) is None
            h.status = HoldStatus.RELEASED
            self.held[h.account] -= h.amount
            return multiple()
        if to == h.account:
            with pytest.raises(InvalidAmount):
                services.hold_capture(**call)
            return multiple()
        transfer = services.hold_capture(**call)
        assert transfer.amount == amount
        h.status, h.captured, h.capture_to, h.capture_id = HoldStatus.CAPTURED, amount, to, transfer.pk
        self.held[h.account] -= h.amount
        self.move(h.account, to, amount, transfer.pk)
        return transfer.pk

    @rule(hold_id=holds)
    def release(self, hold_id):
        h = self.model_holds[hold_id]
        if h.status == HoldStatus.CAPTURED:
            with pytest.raises(HoldNotPending):
                services.hold_release(hold_id=hold_id)
            return
        assert services.hold_release(hold_id=hold_id).status == (
            HoldStatus.RELEASED if h.status == HoldStatus.PENDING else h.status
        )
        if h.status == HoldStatus.PENDING:
            h.status = HoldStatus.RELEASED
            self.held[h.account] -= h.amount

    @rule()
    def expire(self):
        now = timezone.now()
        due = [
            (hid, h)
            for hid, h in self.model_holds.items()
            if h.status == HoldStatus.PENDING and Hold.objects.get(pk=hid).expires_at <= now
        ]
        assert services.holds_expire(now=now) == len(due)
        for _, h in due:
            h.status = HoldStatus.EXPIRED
            self.held[h.account] -= h.amount

    @rule(target=transfers, transfer_id=transfers)
    def reverse(self, transfer_id):
        t = self.model_transfers[transfer_id]
        original = Transfer.objects.get(pk=transfer_id)
        if t.reversal_id is not None:
            assert services.transfer_reverse(transfer=original).pk == t.reversal_id
            return multiple()
        if self.is_user(t.credit) and self.available(t.credit) < t.amount:
            with pytest.raises(InsufficientFunds):
                services.transfer_reverse(transfer=original)
            return multiple()
        reversal = services.transfer_reverse(transfer=original)
        assert reversal.reverses_id == transfer_id
        t.reversal_id = reversal.pk
        self.move(t.credit, t.debit, t.amount, reversal.pk)
        return reversal.pk

    # --- invariants --------------------------------------------------------------------------

    @invariant()
    def database_agrees_with_the_model(self):
        # Three queries per step: the user rows, their pending holds, every account's entries.
        rows = {a.pk: a for a in Account.objects.filter(pk__in=self.held)}
        pending = dict(
            Hold.objects.filter(account_id__in=self.held, status=HoldStatus.PENDING)
            .values_list("account_id")
            .annotate(s=Sum("amount"))
        )
        sums = dict(Entry.objects.values_list("account_id").annotate(s=Sum("amount")))
        for pk, row in rows.items():
            assert (row.balance, row.held) == (self.balance[pk], self.held[pk]), f"account #{pk}"
            assert 0 <= row.held <= row.balance
            assert row.held == pending.get(pk, 0)
            assert row.balance == sums.get(pk, 0)
        for system in (self.issuance, self.revenue):
            assert sums.get(system.pk, 0) == self.balance[system.pk]
        assert sum(sums.values()) == 0  # every entry of the ledger
        assert sum(self.balance.values()) == 0


def test_ledger_state_machine():
    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=30,
            stateful_step_count=30,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
