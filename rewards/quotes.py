"""What a spend will cost before the member confirms it: "spend X, balance after Y", and the
shortfall when the spendable balance is short (site currency, Decimal)."""

from dataclasses import dataclass
from decimal import Decimal

from wallet.selectors import balance_for_user


@dataclass(frozen=True)
class SpendQuote:
    cost: Decimal
    available: Decimal

    @property
    def after(self) -> Decimal:
        return self.available - self.cost

    @property
    def shortfall(self) -> Decimal:
        return max(self.cost - self.available, Decimal(0))

    @property
    def affordable(self) -> bool:
        return self.cost <= self.available


def spend_quote(*, user_id: int, cost: Decimal) -> SpendQuote:
    return SpendQuote(cost=cost, available=balance_for_user(user_id=user_id).available_decimal)
