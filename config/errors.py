"""The site's 500 and CSRF-failure pages. Django renders both templates without context processors
(for the 500 they may be what failed); these add the few names the page's header shows, all from
settings: nothing here touches the database or the request's state, so the page renders whatever
broke."""

from django.http import HttpRequest, HttpResponse, HttpResponseForbidden, HttpResponseServerError
from django.template.loader import render_to_string
from django.views.decorators.csrf import requires_csrf_token

from .context_processors import site


@requires_csrf_token
def server_error(request: HttpRequest) -> HttpResponse:
    return HttpResponseServerError(render_to_string("500.html", {**site(request), "status": 500}))


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    """A form posted without a valid CSRF token: most often a page left open across a sign-out or
    sign-in. The member is told to reload and retry; the reason is for the log, not the page."""
    return HttpResponseForbidden(render_to_string("403_csrf.html", {**site(request), "status": 403}))
