"""The site app in the admin: the economy page (a view, not a table: `Economy` only names it and
carries `portal.view_economy`) and the ledger audit results it reports."""

from functools import partial
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.urls import URLPattern, path

from wallet.admin import ReadOnlyAdmin

from .economy import views
from .models import Economy, LedgerAuditRun


@admin.register(Economy)
class EconomyAdmin(ReadOnlyAdmin):
    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(views.PERMISSION)

    def get_urls(self) -> list[URLPattern]:
        wrap = self.admin_site.admin_view
        return [
            path("", wrap(partial(views.economy, site=self.admin_site)), name="portal_economy_changelist"),
            path("report.csv", wrap(views.economy_csv), name="portal_economy_csv"),
        ]


@admin.register(LedgerAuditRun)
class LedgerAuditRunAdmin(ReadOnlyAdmin):
    list_display = ("finished_at", "problem_count", "vendor")
    readonly_fields = ("event_id", "finished_at", "problem_count", "vendor", "summary")
