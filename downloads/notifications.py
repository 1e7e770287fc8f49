"""Emails downloads sends its members."""

from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext

from .models import Item


def ea_decision(*, item_id: int, verified: bool) -> None:
    """Tell the uploader staff verified (or did not accept) their EA, with the reviewer's note."""
    item = Item.objects.select_related("uploader").filter(pk=item_id).first()
    if item is None or item.uploader is None:
        return
    link = settings.SITE_URL + reverse("downloads:item", args=[item.pk])
    values = {"title": item.title, "site": settings.GOLDBOOK_SITE_NAME}
    # Outbox work runs outside any request: the email is in the uploader's saved language.
    with translation.override(item.uploader.language or settings.LANGUAGE_CODE):
        if verified:
            subject = gettext("Your EA “%(title)s” was verified") % values
            verdict = gettext("Staff verified your EA “%(title)s”. It is now listed in the %(site)s catalog.") % values
        else:
            subject = gettext("Your EA “%(title)s” was not accepted") % values
            verdict = gettext("Staff reviewed your EA “%(title)s” and did not accept it.") % values
        lines = [gettext("Hello %(name)s,") % {"name": item.uploader.public_name}, "", verdict]
        if item.verification_note:
            lines += ["", gettext("Note from the reviewer: %(note)s") % {"note": item.verification_note}]
    lines += ["", link]
    send_mail(subject, "\n".join(lines), None, [item.uploader.email])
