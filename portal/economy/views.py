"""The economy page and its CSV, served inside the admin (portal/admin.py wraps them with the
admin's sign-in check; `portal.view_economy` is checked here)."""

from typing import Any

from django.conf import settings
from django.contrib.admin import AdminSite
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _

from accounts.middleware import zone_for
from payments.display import usd_html

from . import export
from .forms import PeriodForm, default_period
from .page import draw
from .queries import Period
from .report import Report, build

PERMISSION = "portal.view_economy"


def _period(request: HttpRequest) -> tuple[PeriodForm, Period]:
    """The period asked for, else (nothing asked, or a bad range) the last 30 days."""
    zone = zone_for(request.user)
    default = default_period(zone)
    if "first" not in request.GET and "last" not in request.GET:
        return PeriodForm(initial={"first": default.first, "last": default.last}), default
    form = PeriodForm(request.GET)
    return form, form.period(zone) if form.is_valid() else default


def _report(request: HttpRequest) -> tuple[PeriodForm, Report]:
    if not request.user.has_perm(PERMISSION):
        raise PermissionDenied
    form, period = _period(request)
    return form, build(period)


def economy(request: HttpRequest, *, site: AdminSite) -> HttpResponse:
    form, report = _report(request)
    draw(report)
    user_zone = getattr(request.user, "time_zone", "")
    context: dict[str, Any] = {
        **site.each_context(request),
        "title": _("Economy"),
        "form": form,
        "report": report,
        "zone_is_members": bool(user_zone) and str(report.period.zone) == user_zone,
        "site_zone": settings.GOLDBOOK_DEFAULT_TIME_ZONE,
        "audit_text": export.audit_line(report),
        "revenue": usd_html(request, report.revenue),
    }
    return TemplateResponse(request, "admin/portal/economy.html", context)


def economy_csv(request: HttpRequest) -> HttpResponse:
    _form, report = _report(request)
    key = request.GET.get("table", "")
    tables = [t for t in report.tables if t.key == key]
    if key and not tables:
        raise Http404(_("No such table."))
    response = HttpResponse(export.report_csv(report, tables or None), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{export.filename(report, key)}"'
    return response
