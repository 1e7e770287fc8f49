"""Members on hold for review in the admin (issue 13): the append-only history, read-only here;
holds and clearances are decided on the review queue (portal), through wallet.services."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest, HttpResponse
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext_lazy as _

from .admin import ReadOnlyAdmin  # defined before wallet.admin imports this module
from .models import MemberHold


class MemberHoldHistoryInline(admin.TabularInline):
    """The member's holds and clearances on their admin page (accounts' UserAdmin)."""

    model = MemberHold
    fk_name = "user"
    fields = ("action", "reason", "signal", "created_by", "created_at")
    readonly_fields = fields
    ordering = ("-id",)
    extra = 0
    can_delete = False
    verbose_name = _("hold or clearance")
    verbose_name_plural = _("hold history")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(MemberHold)
class MemberHoldAdmin(ReadOnlyAdmin):
    list_display = ("user", "action", "reason", "signal", "created_by", "created_at")
    list_filter = ("action",)
    search_fields = ("user__email", "reason", "signal")
    list_select_related = ("user", "created_by")
    ordering = ("-id",)

    def changelist_view(self, request: HttpRequest, extra_context: dict[str, Any] | None = None) -> HttpResponse:
        try:
            queue = reverse("fraud_review_queue")
        except NoReverseMatch:
            queue = ""
        return super().changelist_view(request, {**(extra_context or {}), "review_queue_url": queue})
