"""Emails about sign-in security: handlers of the PIN_LOCKED and NEW_SIGN_IN_ADDRESS events, run by
the outbox after the transaction that decided them commits (at least once; a rare repeat sends
the notice twice, which is better than never)."""

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from core.events import Delivered

from .models import User

logger = logging.getLogger(__name__)


def _send(user: User, template: str, context: dict[str, object]) -> None:
    context = {
        "user": user,
        "site_name": settings.GOLDBOOK_SITE_NAME,
        "site_url": settings.SITE_URL,
        "recover_url": settings.SITE_URL + reverse("account_reset_password"),
        **context,
    }
    # Outbox handlers run outside any request: the email is in the member's saved language.
    with translation.override(user.language or settings.LANGUAGE_CODE):
        subject = render_to_string(f"accounts/email/{template}_subject.txt", context).strip()
        body = render_to_string(f"accounts/email/{template}_message.txt", context)
    send_mail(f"[{settings.GOLDBOOK_SITE_NAME}] {subject}", body, settings.DEFAULT_FROM_EMAIL, [user.email])


def send_lockout_notice(event: Delivered) -> None:
    user_id = int(event.payload["user_id"])
    user = User.objects.filter(pk=user_id).first()
    if user is None or user.locked_at is None:
        return
    _send(user, "locked", {"failures": settings.GOLDBOOK_PIN_LOCKOUT_AFTER})
    logger.info("User #%s: lockout notice sent", user_id)


def send_new_address_notice(event: Delivered) -> None:
    user_id, ip = int(event.payload["user_id"]), str(event.payload["ip"])
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        return
    _send(user, "new_address", {"ip": ip})
    logger.info("User #%s: new sign-in address notice sent", user_id)
