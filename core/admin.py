from django.contrib import admin
from django.http import HttpRequest

from .models import OutboxEvent


@admin.register(OutboxEvent)
class OutboxEventAdmin(admin.ModelAdmin):
    """Read-only: staff look at what is pending or failing; only the dispatcher changes rows."""

    list_display = ("id", "name", "created_at", "delivered_at", "attempts", "available_at")
    list_filter = ("name", ("delivered_at", admin.EmptyFieldListFilter))
    search_fields = ("name", "last_error")
    readonly_fields = ("name", "payload", "created_at", "delivered_at", "attempts", "available_at", "last_error")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
