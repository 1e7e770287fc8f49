"""Linking an E9th wallet to a member: a one-time message to sign (EIP-191 personal_sign), and
the link once the signature proves control of the wallet. Chain deposits must come from it."""

import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from accounts.models import User

from ..errors import WalletLinkFailed, WalletTaken
from ..models import LinkedWallet, WalletChallenge
from ..providers import e9th

logger = logging.getLogger(__name__)

CHALLENGE_TTL = timedelta(minutes=15)


def wallet_challenge_create(*, user: User) -> WalletChallenge:
    nonce = secrets.token_hex(16)
    now = timezone.now()
    message = (
        f"{settings.GOLDBOOK_SITE_NAME} wants you to link your E9th wallet to {user.email}.\n\n"
        f"Signing this message proves you control the wallet. It costs nothing and moves no funds.\n\n"
        f"Nonce: {nonce}\nIssued at: {now.strftime('%Y-%m-%dT%H:%M:%SZ')}"
    )
    return WalletChallenge.objects.create(user=user, nonce=nonce, message=message, expires_at=now + CHALLENGE_TTL)


def _recover_signer(message: str, signature: str) -> str | None:
    from eth_account import Account
    from eth_account.messages import encode_defunct

    try:
        return str(Account.recover_message(encode_defunct(text=message), signature=signature)).lower()
    except Exception:  # noqa: BLE001 - eth-account raises many types for malformed signatures
        return None


def wallet_link(*, user: User, wallet_address: str, signature: str) -> LinkedWallet:
    """Link a wallet after checking an EIP-191 personal_sign signature of the user's latest
    unused challenge. The challenge is spent whatever the outcome (one-time nonce).
    Raises WalletLinkFailed (400), WalletTaken (409)."""
    address = e9th.normalise_address(wallet_address)
    if address is None:
        raise WalletLinkFailed(_("wallet_address must be 0x followed by 40 hex digits."))
    if not isinstance(signature, str) or not signature.strip() or len(signature) > 200:
        raise WalletLinkFailed(_("A signature is required."))
    now = timezone.now()
    with transaction.atomic():
        challenge = (
            WalletChallenge.objects.select_for_update(no_key=True)
            .filter(user=user, used_at__isnull=True, expires_at__gt=now)
            .order_by("-id")
            .first()
        )
        if challenge is None:
            raise WalletLinkFailed(_("Request a new message to sign first (challenges last 15 minutes and work once)."))
        challenge.used_at = now
        challenge.save(update_fields=["used_at"])
    signer = _recover_signer(challenge.message, signature.strip())
    if signer != address:
        raise WalletLinkFailed(
            "The signature does not match this wallet and message. Request a new message and sign again."
        )
    try:
        with transaction.atomic():
            owner = LinkedWallet.objects.select_for_update(no_key=True).filter(address=address).first()
            if owner is not None and owner.user_id != user.pk:
                raise WalletTaken(_("This wallet is already linked to another account."))
            linked, _created = LinkedWallet.objects.update_or_create(user=user, defaults={"address": address})
    except IntegrityError:
        raise WalletTaken(_("This wallet is already linked to another account.")) from None
    logger.info("User #%s: linked E9th wallet %s", user.pk, address)
    return linked
