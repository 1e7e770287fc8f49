"""factory_boy factories. Balances are only ever set up through wallet.services."""

import uuid
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


# --- downloads ---


def make_item(
    *,
    title: str = "Song",
    kind: str = "song",
    content: bytes = b"RIFF-demo-bytes",
    filename: str = "track.wav",
    **fields: object,
):
    """A catalog item with a real (small) file, created through the downloads service."""
    from django.core.files.base import ContentFile

    from downloads import services as downloads

    return downloads.item_create(title=title, kind=kind, file=ContentFile(content, name=filename), **fields)


def make_songs(n: int, *, prefix: str = "Song") -> list:
    return [make_item(title=f"{prefix} {i}", content=f"song-{prefix}-{i}".encode() * 10) for i in range(n)]


# --- payments -------------------------------------------------------------------------------


def credit_package(name: str = "Popular Pack"):
    """One of the seed's packages (created by payments migration 0002)."""
    from payments.models import CreditPackage

    return CreditPackage.objects.get(name=name)


# --- accounts ---------------------------------------------------------------------------------


def verify_email(user: User) -> None:
    """Mark the user's email verified (allauth's EmailAddress), as clicking the link would."""
    from allauth.account.models import EmailAddress

    EmailAddress.objects.update_or_create(user=user, email=user.email, defaults={"primary": True, "verified": True})


def api_token(user: User) -> str:
    from accounts.services import api_session_create

    return api_session_create(user=user, ip=None, user_agent="t")[1]


def staff(*perms: str, **kwargs: object) -> User:
    """An active staff user holding the given `app_label.codename` permissions."""
    from django.contrib.auth.models import Permission

    user = UserFactory(is_staff=True, **kwargs)
    for perm in perms:
        app_label, codename = perm.split(".", 1)
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    return User.objects.get(pk=user.pk)  # fresh instance: no stale permission cache


# --- rewards ---


class RewardFactory(factory.django.DjangoModelFactory):
    """A store reward. `price` is in minor units (100 coins = 10000)."""

    class Meta:
        model = "rewards.Reward"

    name = factory.Sequence(lambda n: f"Reward {n}")
    slug = factory.Sequence(lambda n: f"reward-{n}")
    description = "A test reward."
    price = 10000
    kind = "badge"
    badge_label = factory.Sequence(lambda n: f"Badge {n}")


def forum_event(user_email: str, type_: str, object_id: str, *, event_id: str | None = None, **kwargs: object):
    """Record one event from the "forum" source through the real intake service."""
    from rewards import services as rewards

    data = kwargs.pop("data", {})
    voter = kwargs.pop("voter", None)
    if voter is not None:
        data = {**data, "voter": {"email": voter}}
    object_type = kwargs.pop("object_type", "post" if type_.startswith("post.") else "answer")
    return rewards.activity_record(
        source="forum",
        event_id=event_id or uuid.uuid4().hex,
        type=type_,
        user_email=user_email,
        object_type=object_type,
        object_id=object_id,
        data=data,
        **kwargs,
    )
