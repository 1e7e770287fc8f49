"""Emails downloads sends its members."""

from django.conf import settings
from django.core.mail import send_mail
from django.urls import reverse

from .models import Item


def ea_decision(*, item_id: int, verified: bool) -> None:
    """Tell the uploader staff verified (or did not accept) their EA, with the reviewer's note."""
    item = Item.objects.select_related("uploader").filter(pk=item_id).first()
    if item is None or item.uploader is None:
        return
    link = settings.SITE_URL + reverse("downloads:item", args=[item.pk])
    subject = f"Your EA “{item.title}” was {'verified' if verified else 'not accepted'}"
    lines = [
        f"Hello {item.uploader.public_name},",
        "",
        (
            f"Staff verified your EA “{item.title}”. It is now listed in the {settings.GOLDBOOK_SITE_NAME} catalog."
            if verified
            else f"Staff reviewed your EA “{item.title}” and did not accept it."
        ),
    ]
    if item.verification_note:
        lines += ["", f"Note from the reviewer: {item.verification_note}"]
    lines += ["", link]
    send_mail(subject, "\n".join(lines), None, [item.uploader.email])
