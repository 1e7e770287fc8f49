"""The notification centre's pages (a list with read / unread, marking read without JavaScript)
and the small JSON state live.js polls when its socket cannot connect."""

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from accounts.requests import signed_in_member
from wallet.handlers import balance_event
from wallet.selectors import balance_for_user

from . import notifications

PAGE_SIZE = 20


@login_required
@require_GET
def notification_list(request: HttpRequest) -> HttpResponse:
    user = signed_in_member(request)
    page = Paginator(notifications.for_member(user_id=user.pk), PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [(note, notifications.message(note)) for note in page.object_list]
    context = {"page": page, "rows": rows, "unread": notifications.unread_count(user_id=user.pk)}
    return render(request, "portal/notifications.html", context)


def _back(request: HttpRequest) -> HttpResponse:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, require_https=request.is_secure()):
        return redirect(target)
    return redirect("portal:notifications")


@login_required
@require_POST
def notification_read(request: HttpRequest, notification_id: int) -> HttpResponse:
    if not notifications.mark_read(user_id=signed_in_member(request).pk, notification_id=notification_id):
        raise Http404("No such notification.")
    return _back(request)


@login_required
@require_POST
def notifications_read_all(request: HttpRequest) -> HttpResponse:
    notifications.mark_all_read(user_id=signed_in_member(request).pk)
    return _back(request)


@login_required
@require_GET
def live_state(request: HttpRequest) -> JsonResponse:
    """What the live pages show, for the polling fallback: the balance figures (the same JSON the
    socket's "balance" event carries) and the unread notification count."""
    user = signed_in_member(request)
    state = {
        "balance": balance_event(balance_for_user(user_id=user.pk)),
        "unread": notifications.unread_count(user_id=user.pk),
    }
    response = JsonResponse(state)
    response["Cache-Control"] = "no-store"
    return response
