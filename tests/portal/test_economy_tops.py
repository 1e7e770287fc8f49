"""Top earners and spenders from the members' running totals (issue 13, portal/economy/members.py)
give exactly the ledger's top ten, ties in the same order, across month boundaries and zones;
they fall back to the ledger when the totals cannot bound a period; reconciliation catches a
running total that differs from the ledger."""

from datetime import UTC, date, datetime, timedelta
from itertools import count
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.db import transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from portal.economy import members, queries, rollups
from portal.models import EconomyRollupState, MemberRunningTotal
from tests.factories import UserFactory
from wallet.models import Entry, Transfer, TransferKind
from wallet.selectors import default_currency
from wallet.services import system_account, user_account

pytestmark = pytest.mark.django_db

ZONES = [ZoneInfo(z) for z in ("UTC", "Asia/Shanghai", "Asia/Kolkata", "America/New_York", "Pacific/Chatham")]
START = datetime(2026, 8, 20, tzinfo=UTC)  # the history: late August to early December 2026
HOURS = 24 * 105
KINDS = [TransferKind.EARN, TransferKind.BOUNTY, TransferKind.DOWNLOAD, TransferKind.REDEEM, TransferKind.ESCROW]
MEMBERS = 13
keys = count()


def _accounts() -> tuple[list[int], list[int]]:
    people = [user_account(user_id=UserFactory().pk).pk for _ in range(MEMBERS)]
    return people, [system_account(name=n).pk for n in ("rewards_pool", "revenue")]


def _post(debit: int, credit: int, amount: int, kind: str, when: datetime) -> None:
    with mock.patch("django.utils.timezone.now", return_value=when):
        key = f"tops-{next(keys)}"
        transfer = Transfer.objects.create(
            currency=default_currency(),
            debit_account_id=debit,
            credit_account_id=credit,
            amount=amount,
            kind=kind,
            idempotency_key=key,
            fingerprint=key,
        )
        Entry.objects.create(transfer=transfer, account_id=debit, amount=-amount)
        Entry.objects.create(transfer=transfer, account_id=credit, amount=amount)


def _refresh(when: datetime) -> None:
    with mock.patch("django.utils.timezone.now", return_value=when):
        rollups.refresh()


def _plain(figure: str, period: queries.Period) -> list[tuple[str, int]]:
    with mock.patch.object(members, "candidates", return_value=None):
        return queries._top_of(figure, period)


def _tops(period: queries.Period, now: datetime) -> dict[str, list[tuple[str, int]]]:
    with mock.patch("django.utils.timezone.now", return_value=now):
        return {"earned": queries.top_earners(period), "spent": queries.top_spenders(period)}


transfers = st.lists(
    st.tuples(
        st.integers(0, MEMBERS + 1),  # debit: a member, or one of two system accounts
        st.integers(0, MEMBERS + 1),  # credit
        st.sampled_from([5, 10, 10, 25]),  # few amounts: ties are common
        st.sampled_from(KINDS),
        st.integers(0, HOURS),  # hours after START
        st.integers(0, 59),
    ),
    max_size=60,
)


@pytest.fixture
def base() -> list[int]:
    """Thirteen members earning and spending a little every fifth day (the examples below add
    to it): most periods have ten members with a whole month's figure, so the totals are used."""
    people, system = _accounts()
    for day in range(0, 105, 5):
        for i, member in enumerate(people):
            when = START + timedelta(days=day, hours=i)
            _post(system[0], member, 1 + i % 3, TransferKind.EARN, when)
            _post(member, system[1], 1 + i % 2, TransferKind.REDEEM, when)
    return people + system


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    history=transfers,
    first=st.integers(0, 50),
    days=st.integers(1, 40) | st.integers(50, 110) | st.integers(70, 110),
    zone=st.sampled_from(ZONES),
    early=st.none() | st.integers(1, HOURS),  # perhaps a first build earlier
    mark=st.integers(HOURS * 3 // 4, HOURS + 24),
)
def test_tops_equal_the_ledgers_whatever_the_history_period_and_zone(base, history, first, days, zone, early, mark):
    accounts = base
    with transaction.atomic():
        for debit, credit, amount, kind, hour, minute in history:
            if accounts[debit] != accounts[credit]:
                _post(accounts[debit], accounts[credit], amount, kind, START + timedelta(hours=hour, minutes=minute))
        for hour in sorted({early or mark, mark}):  # refreshes over month starts, or one build
            _refresh(START + timedelta(hours=hour, minutes=20))
        day = date(2026, 8, 20) + timedelta(days=first)
        period = queries.Period(day, day + timedelta(days=days - 1), zone)
        now = START + timedelta(hours=mark, minutes=40)
        assert _tops(period, now) == {"earned": _plain("earned", period), "spent": _plain("spent", period)}
        transaction.set_rollback(True)


def _busy_history() -> list[int]:
    """Thirteen members earning from the pool and spending in the store every other day, more
    for higher indexes, from August to early December; running totals refreshed on 3 December."""
    people, (pool, revenue) = _accounts()
    for day in range(0, 105, 2):
        for i, member in enumerate(people):
            when = START + timedelta(days=day, hours=i)
            _post(pool, member, 10 + 3 * i, TransferKind.EARN, when)
            _post(member, revenue, 5 + (i * day) % 7, TransferKind.REDEEM, when)
    _refresh(datetime(2026, 12, 3, 10, 15, tzinfo=UTC))
    return people


SHANGHAI = ZoneInfo("Asia/Shanghai")
AUTUMN = queries.Period(date(2026, 9, 10), date(2026, 12, 3), SHANGHAI)
LATER = datetime(2026, 12, 3, 11, tzinfo=UTC)


def test_the_totals_leave_few_candidates_and_the_same_top_ten():
    people = _busy_history()
    with mock.patch("django.utils.timezone.now", return_value=LATER):
        found = members.candidates("earned", AUTUMN.start, AUTUMN.end)
    assert found is not None and 10 <= len(found.accounts) < len(people)
    assert _tops(AUTUMN, LATER) == {"earned": _plain("earned", AUTUMN), "spent": _plain("spent", AUTUMN)}


def test_without_running_totals_or_with_stale_ones_the_ledger_is_read():
    _busy_history()
    in_time = mock.patch("django.utils.timezone.now", return_value=LATER)
    with in_time:
        assert members.candidates("spent", AUTUMN.start, AUTUMN.end) is not None
    with mock.patch("django.utils.timezone.now", return_value=LATER + timedelta(hours=4)):  # refresh behind
        assert members.candidates("spent", AUTUMN.start, AUTUMN.end) is None
    one_month = queries.Period(date(2026, 11, 3), date(2026, 11, 20), SHANGHAI)  # no whole month inside
    ten_weeks = queries.Period(date(2026, 9, 25), date(2026, 12, 3), SHANGHAI)  # October and November
    with in_time:
        assert members.candidates("spent", one_month.start, one_month.end) is None
        assert members.candidates("spent", ten_weeks.start, ten_weeks.end) is not None
        with mock.patch.object(members, "MAX_CANDIDATES", 9):  # too many to be worth it
            assert members.candidates("spent", ten_weeks.start, ten_weeks.end) is None
    EconomyRollupState.objects.filter(pk=1).update(members_until=None)  # not built yet
    with in_time:
        assert members.candidates("spent", AUTUMN.start, AUTUMN.end) is None
        assert _tops(AUTUMN, LATER)["spent"] == _plain("spent", AUTUMN)


def test_fewer_than_ten_members_with_a_figure_fall_back_to_the_ledger():
    people, (pool, _revenue) = _accounts()
    for i, member in enumerate(people[:9]):
        _post(pool, member, 10 + i, TransferKind.EARN, START + timedelta(days=i))
    _refresh(datetime(2026, 12, 3, 10, tzinfo=UTC))
    with mock.patch("django.utils.timezone.now", return_value=LATER):
        assert members.candidates("earned", AUTUMN.start, AUTUMN.end) is None
        assert len(queries.top_earners(queries.Period(date(2026, 8, 1), date(2026, 12, 3), SHANGHAI))) == 9


def test_reconciliation_catches_a_running_total_that_differs():
    _busy_history()
    with mock.patch("django.utils.timezone.now", return_value=LATER):
        assert rollups.reconcile() == []
        row = MemberRunningTotal.objects.filter(at=datetime(2026, 11, 1, tzinfo=UTC)).order_by("account_id").first()
        MemberRunningTotal.objects.filter(pk=row.pk).update(spent=row.spent + 1)
        assert rollups.reconcile() == [
            f"member {row.account_id} before 2026-11-01 00:00: rollups {[row.earned, row.spent + 1]} "
            f"ledger {[row.earned, row.spent]}"
        ]
        MemberRunningTotal.objects.filter(pk=row.pk).delete()
        assert rollups.reconcile() == [
            f"member {row.account_id} before 2026-11-01 00:00: rollups [0, 0] ledger {[row.earned, row.spent]}"
        ]
    assert EconomyRollupState.objects.get(pk=1).differences != []


def test_a_refresh_rewrites_only_the_members_whose_totals_moved(base):
    """Every 10 minutes: the open month's rows of members with no new transfer stay as they are
    (100,000 rows rewritten each time at 100,000 members, before), and the totals stay exact."""
    people = base[:MEMBERS]
    pool, revenue = base[MEMBERS:]
    _refresh(datetime(2026, 12, 2, 10, tzinfo=UTC))
    before = dict(MemberRunningTotal.objects.filter(at=members.OPEN).values_list("account_id", "earned"))
    assert len(before) == MEMBERS
    _post(pool, people[0], 7, TransferKind.EARN, datetime(2026, 12, 2, 10, 30, tzinfo=UTC))
    _post(people[1], revenue, 3, TransferKind.REDEEM, datetime(2026, 12, 2, 10, 40, tzinfo=UTC))
    counts: list[int] = []

    def update_open(totals):
        counts.append(original(totals))
        return counts[-1]

    original = members._update_open
    with mock.patch.object(members, "_update_open", update_open):
        _refresh(datetime(2026, 12, 2, 11, 5, tzinfo=UTC))
    assert counts == [2]  # the two members with a new transfer, not all thirteen
    moved = MemberRunningTotal.objects.filter(at=members.OPEN).values_list("account_id", "earned")
    assert dict(moved) == {**before, people[0]: before[people[0]] + 7}
    with mock.patch("django.utils.timezone.now", return_value=datetime(2026, 12, 2, 11, 6, tzinfo=UTC)):
        assert members.differences() == []
