"""The site's 500 page. Django renders 500.html without context processors (they may be what
failed); this adds the few names the page's header shows, all from settings: nothing here touches
the database or the request's state, so the page renders whatever broke."""

from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.template.loader import render_to_string
from django.views.decorators.csrf import requires_csrf_token

from .context_processors import site


@requires_csrf_token
def server_error(request: HttpRequest) -> HttpResponse:
    return HttpResponseServerError(render_to_string("500.html", {**site(request), "status": 500}))
