"""Emails about sign-in security, sent after the transaction that decided them commits."""

import logging

from celery import shared_task
from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.urls import reverse

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
    subject = render_to_string(f"accounts/email/{template}_subject.txt", context).strip()
    body = render_to_string(f"accounts/email/{template}_message.txt", context)
    send_mail(f"[{settings.GOLDBOOK_SITE_NAME}] {subject}", body, settings.DEFAULT_FROM_EMAIL, [user.email])


@shared_task(
    name="accounts.send_lockout_notice", ignore_result=True, autoretry_for=(OSError,), retry_backoff=True, max_retries=5
)
def send_lockout_notice(user_id: int) -> None:
    user = User.objects.filter(pk=user_id).first()
    if user is None or user.locked_at is None:
        return
    _send(user, "locked", {"failures": settings.GOLDBOOK_PIN_LOCKOUT_AFTER})
    logger.info("User #%s: lockout notice sent", user_id)


@shared_task(
    name="accounts.send_new_address_notice",
    ignore_result=True,
    autoretry_for=(OSError,),
    retry_backoff=True,
    max_retries=5,
)
def send_new_address_notice(user_id: int, ip: str) -> None:
    user = User.objects.filter(pk=user_id).first()
    if user is None:
        return
    _send(user, "new_address", {"ip": ip})
    logger.info("User #%s: new sign-in address notice sent", user_id)
