from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from .errors import AccountOnHold
from .selectors import Balance, balance_for_user, member_on_hold


def wallet(request: HttpRequest) -> dict[str, object]:
    """`wallet_balance` for the header and `wallet_on_hold` for the hold banner: each read only
    when a template actually shows it."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}

    def load() -> Balance:
        return balance_for_user(user_id=user.pk)

    return {
        "wallet_balance": SimpleLazyObject(load),
        # A member on hold for review reads why their spending is refused on every page.
        "wallet_on_hold": SimpleLazyObject(lambda: member_on_hold(user_id=user.pk)),
        "wallet_on_hold_message": AccountOnHold.default_message,
    }
