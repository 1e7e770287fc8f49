from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from .selectors import Balance, balance_for_user


def wallet(request: HttpRequest) -> dict[str, object]:
    """`wallet_balance` for the header: read only when a template actually shows it."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}

    def load() -> Balance:
        return balance_for_user(user_id=user.pk)

    return {"wallet_balance": SimpleLazyObject(load)}
