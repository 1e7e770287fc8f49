from django.http import HttpRequest
from django.urls import reverse
from django.utils.functional import SimpleLazyObject

from .notifications import unread_count


def notifications(request: HttpRequest) -> dict[str, object]:
    """The header's notification link and unread count (read only when a page shows it), and
    the JSON state live.js polls without a socket."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "notifications_url": reverse("portal:notifications"),
        "live_state_url": reverse("portal:live_state"),
        "unread_notifications": SimpleLazyObject(lambda: unread_count(user_id=user.pk)),
    }
