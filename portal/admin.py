"""The site app in the admin: the economy page (a view, not a table: `Economy` only names it and
carries `portal.view_economy`), the ledger audit results it reports, and members' notifications
(what support sees when a member asks "what was that message?")."""

from functools import partial
from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.urls import URLPattern, path
from django.utils.translation import gettext_lazy as _

from wallet.admin import ReadOnlyAdmin

from . import notifications
from .economy import views
from .models import Economy, LedgerAuditRun, Notification


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


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    """Read-only: notifications are written by the outbox handlers, once per member and event."""

    list_display = ("created_at", "user", "kind", "text", "read_at")
    list_filter = ("kind", ("read_at", admin.EmptyFieldListFilter))
    search_fields = ("user__email",)
    list_select_related = ("user",)
    date_hierarchy = "created_at"
    readonly_fields = ("user", "kind", "text", "params", "event_id", "created_at", "read_at")
    fields = readonly_fields

    @admin.display(description=_("text"))
    def text(self, obj: Notification) -> str:
        return notifications.message(obj)
