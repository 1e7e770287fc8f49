"""factory_boy factories. Balances are only ever set up through wallet.services."""

from decimal import Decimal

import factory

from accounts.models import User
from wallet import services as wallet
from wallet.models import SystemAccount, Transfer, TransferKind
from wallet.selectors import default_currency

DEFAULT_PIN = "4829"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"member{n}@example.com")
    password = factory.PostGenerationMethodCall("set_password", DEFAULT_PIN)

    @factory.post_generation
    def _save(obj: User, create: bool, extracted: object, **kwargs: object) -> None:
        if create:
            obj.save()


def fund(user: User, amount: Decimal | str, *, key: str | None = None, kind: str = TransferKind.PURCHASE) -> Transfer:
    """Give `user` credits through the ledger, as a purchase would."""
    currency = default_currency()
    minor = currency.to_minor(Decimal(amount))
    return wallet.transfer_post(
        from_account=wallet.system_account(name=SystemAccount.ISSUANCE),
        to_account=wallet.user_account(user_id=user.pk),
        amount=minor,
        kind=kind,
        idempotency_key=key or f"test-fund:{user.pk}:{Transfer.objects.count()}:{minor}",
        memo="Test funding",
    )


def staff(*perms: str, **kwargs: object) -> User:
    """An active staff user holding the given `app_label.codename` permissions."""
    from django.contrib.auth.models import Permission

    user = UserFactory(is_staff=True, **kwargs)
    for perm in perms:
        app_label, codename = perm.split(".", 1)
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return User.objects.get(pk=user.pk)  # fresh instance: no stale permission cache
