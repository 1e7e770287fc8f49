"""Demo data for the embedded default (`python manage.py seed_demo`). Idempotent."""

from decimal import Decimal

from allauth.account.models import EmailAddress
from django.contrib.auth.models import Permission
from django.core.management.base import OutputWrapper

from wallet import services as wallet
from wallet.models import SystemAccount, TransferKind
from wallet.selectors import default_currency

from .models import User

DEMO_MEMBER = ("demo@goldbook.local", "2580")
DEMO_ADMIN = ("admin@goldbook.local", "135790")
DEMO_CHECKER = ("checker@goldbook.local", "246813")
DEMO_GRANT = Decimal("25.00")


def _user(email: str, pin: str, **extra: object) -> tuple[User, bool]:
    user = User.objects.filter(email=email).first()
    if user is not None:
        return user, False
    if extra.get("is_superuser"):
        user = User.objects.create_superuser(email, pin)
    else:
        user = User.objects.create_user(email, pin, **extra)
    # Demo addresses count as verified, so "Forgot PIN" works for them straight away.
    EmailAddress.objects.get_or_create(user=user, email=email, defaults={"primary": True, "verified": True})
    return user, True


def seed(*, stdout: OutputWrapper) -> None:
    member, created = _user(*DEMO_MEMBER, display_name="Demo Member")
    _user(*DEMO_ADMIN, is_superuser=True)
    checker, _ = _user(*DEMO_CHECKER, is_staff=True, display_name="Second approver")
    # The checker approves what the admin requests (maker-checker), so it needs the permission
    # and a view of the ledger; adding permissions already held changes nothing.
    checker.user_permissions.add(
        *Permission.objects.filter(
            content_type__app_label="wallet",
            codename__in=[
                "approve_adjustment",
                "request_adjustment",
                "view_adjustmentrequest",
                "view_account",
                "view_transfer",
                "view_entry",
                "view_hold",
            ],
        )
    )
    currency = default_currency()
    # A fixed idempotency key: a second run finds the grant already posted and posts nothing.
    wallet.transfer_post(
        from_account=wallet.system_account(name=SystemAccount.PROMOTIONS),
        to_account=wallet.user_account(user_id=member.pk),
        amount=currency.to_minor(DEMO_GRANT),
        kind=TransferKind.BONUS,
        idempotency_key=f"demo:welcome:{member.pk}",
        memo="Welcome bonus (demo data)",
        credit_source="welcome",  # granted credits, expiring per GOLDBOOK_CREDIT_EXPIRY_DAYS
    )
    stdout.write(
        f"accounts: member {DEMO_MEMBER[0]} PIN {DEMO_MEMBER[1]}; "
        f"admin {DEMO_ADMIN[0]} PIN {DEMO_ADMIN[1]}{' (created)' if created else ''}"
    )
