"""Statement totals by kind category: what a member bought, spent and earned, net of reversals."""

import pytest

from tests.factories import UserFactory, fund
from wallet import services as wallet
from wallet.models import KIND_CATEGORY, KindCategory, SystemAccount, TransferKind
from wallet.selectors import statement_totals
from wallet.statement import EARNED, PURCHASED, SPENT

pytestmark = pytest.mark.django_db


def _post(src, dst, amount, kind, key):
    return wallet.transfer_post(from_account=src, to_account=dst, amount=amount, kind=kind, idempotency_key=key)


def test_every_kind_counts_in_at_most_one_total():
    assert not (set(PURCHASED) & set(SPENT) or set(PURCHASED) & set(EARNED) or set(SPENT) & set(EARNED))
    assert set(KIND_CATEGORY) == set(TransferKind)
    assert {KIND_CATEGORY[k] for k in SPENT} == {KindCategory.SPENDING}


def test_totals_net_out_reversals_and_refunds():
    user = UserFactory()
    mine = wallet.user_account(user_id=user.pk)
    revenue = wallet.system_account(name=SystemAccount.REVENUE)
    pool = wallet.system_account(name=SystemAccount.REWARDS_POOL)

    bought = fund(user, "50.00")  # purchase 5000
    fund(user, "10.00", kind=TransferKind.BONUS)  # bonus 1000
    earned = _post(pool, mine, 700, TransferKind.EARN, "earn-1")
    _post(pool, mine, 300, TransferKind.EARN, "earn-2")
    _post(mine, revenue, 1200, TransferKind.DOWNLOAD, "spend-1")
    spent = _post(mine, revenue, 800, TransferKind.REDEEM, "spend-2")
    wallet.transfer_reverse(transfer=spent)  # a cancelled redemption is not spent
    _post(revenue, mine, 200, TransferKind.REFUND, "refund-1")  # part of a download given back
    wallet.transfer_reverse(transfer=earned)  # a clawed-back award is not earned
    wallet.transfer_reverse(transfer=bought)  # a refunded purchase is not purchased
    wallet.hold_place(account=mine, amount=200, kind=TransferKind.DOWNLOAD, idempotency_key="hold-1")

    totals = statement_totals(account=wallet.user_account(user_id=user.pk))
    assert (totals.purchased, totals.spent, totals.earned, totals.held) == (1000, 1000, 300, 200)
