from collections.abc import Callable
from typing import Any

from django.apps import apps
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html_join
from django.utils.translation import gettext
from simple_history.admin import SimpleHistoryAdmin

from . import config_changes
from .approvals import FourEyesAdmin
from .config_changes import Snapshot
from .errors import GoldbookError
from .models import ConfigChange, ConfigChangeStatus, OutboxEvent
from .requests import signed_in_id


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


PREVIEW = "_preview"


class PreviewAdmin(admin.ModelAdmin):
    """A "Preview" button on the change form (works without JavaScript): what was typed is
    validated and `preview_lines` are shown above the form, which comes back filled in; nothing
    is saved or proposed. Saving is the usual button, after looking."""

    change_form_template = "admin/core/preview_change_form.html"

    def preview_lines(self, request: HttpRequest, form: Any, obj: Any) -> list[str]:
        """What saving `form.instance` (validated, not saved; `obj` is the row before, or None)
        would do, in sentences a staff member reads."""
        return []

    def get_form(self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any) -> Any:
        form_class = super().get_form(request, obj, change, **kwargs)
        if request.method != "POST" or PREVIEW not in request.POST:
            return form_class
        model_admin = self

        class PreviewForm(form_class):  # type: ignore[valid-type,misc]
            preview: list[str] | None = None

            def is_valid(self) -> bool:
                # Never valid, so the admin neither saves nor proposes; shown again, with the preview.
                if super().is_valid():
                    self.preview = model_admin.preview_lines(request, self, obj)
                return False

        return PreviewForm


def _as_stored(name: str, value: Any) -> Any:
    return value


class FourEyesConfigAdmin(PreviewAdmin, SimpleHistoryAdmin):
    """For settings that can create money: an add or change for which `creates_money(before,
    after)` is true is held as a ConfigChange for a second staff member (core.config_changes)
    instead of being saved; any other change saves at once. Both are in the model's history."""

    _held_attr = "_goldbook_held_change"
    # How a held change shows a field's stored value, e.g. {"usd_cents": <cents → "$30.00">}.
    value_formatters: dict[str, Callable[[Any], str]] = {}

    def shown_value(self, name: str, value: Any) -> Any:
        formatter = self.value_formatters.get(name)
        return value if formatter is None or value is None else formatter(value)

    def creates_money(self, before: Snapshot | None, after: Snapshot) -> bool:
        raise NotImplementedError

    def _would_hold(self, obj: Any, form: Any, change: bool) -> tuple[bool, dict[str, list[int]]]:
        names = [f.name for f in obj._meta.many_to_many if f.name in getattr(form, "cleaned_data", {})]
        m2m = {name: [o.pk for o in form.cleaned_data[name]] for name in names}
        before = config_changes.snapshot(type(obj)._default_manager.get(pk=obj.pk)) if change else None
        return self.creates_money(before, config_changes.snapshot(obj, m2m)), m2m

    def preview_lines(self, request: HttpRequest, form: Any, obj: Any) -> list[str]:
        held, _m2m = self._would_hold(form.instance, form, obj is not None)
        if held:
            note = gettext("Saving this could create money, so it will wait for a second staff member's approval.")
        else:
            note = gettext("Saving this applies at once (it cannot create money).")
        return [*super().preview_lines(request, form, obj), note]

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        hold, m2m = self._would_hold(obj, form, change)
        if hold:
            held = config_changes.propose(
                obj=obj,
                m2m=m2m,
                requested_by_id=signed_in_id(request),
                summary=f"{'Change' if change else 'Add'} {obj}",
            )
            setattr(request, self._held_attr, held)
            return
        super().save_model(request, obj, form, change)

    def _held(self, request: HttpRequest) -> ConfigChange | None:
        return getattr(request, self._held_attr, None)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        if self._held(request) is None:
            super().save_related(request, form, formsets, change)

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        return None if self._held(request) else super().log_addition(request, obj, message)

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> Any:
        return None if self._held(request) else super().log_change(request, obj, message)

    def _held_response(self, request: HttpRequest, held: ConfigChange) -> HttpResponse:
        self.message_user(
            request,
            f"This change could create money, so it waits for a second staff member: change #{held.pk}. "
            "Nothing has changed yet.",
            messages.WARNING,
        )
        return HttpResponseRedirect(reverse("admin:core_configchange_change", args=[held.pk]))

    def response_add(self, request: HttpRequest, obj: Any, post_url_continue: str | None = None) -> HttpResponse:
        held = self._held(request)
        return self._held_response(request, held) if held else super().response_add(request, obj, post_url_continue)

    def response_change(self, request: HttpRequest, obj: Any) -> HttpResponse:
        held = self._held(request)
        return self._held_response(request, held) if held else super().response_change(request, obj)


@admin.register(ConfigChange)
class ConfigChangeAdmin(FourEyesAdmin, admin.ModelAdmin):
    """Held changes to money-creating settings: read, then approve or reject (never edit)."""

    list_display = ("id", "summary", "model", "status", "requested_by", "requested_at", "decided_by", "decided_at")
    list_filter = ("status", "model")
    actions = ["approve", "reject"]
    readonly_fields = (
        "model",
        "object_id",
        "summary",
        "difference",
        "status",
        "requested_by",
        "requested_at",
        "decided_by",
        "decided_at",
        "decision_note",
        "applied_object_id",
    )
    exclude = ("values", "before")
    request_permission = "core.add_configchange"
    approve_permission = config_changes.APPROVE

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False  # proposed by editing the setting itself

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return bool(request.user.is_active and request.user.is_staff)

    @admin.display(description="Before → after")
    def difference(self, obj: ConfigChange) -> str:
        # The setting's own admin shows its values as staff typed them (dollars, not cents).
        model_admin = self.admin_site._registry.get(apps.get_model(obj.model))
        shown = model_admin.shown_value if isinstance(model_admin, FourEyesConfigAdmin) else _as_stored
        rows = [
            (name, shown(name, obj.before[name]) if obj.before and name in obj.before else "—", shown(name, new))
            for name, new in obj.values.items()
            if not obj.before or obj.before.get(name) != new
        ]
        return format_html_join("\n", "<div><b>{}</b>: {} → {}</div>", rows)

    def _decide(self, request: HttpRequest, queryset: QuerySet[ConfigChange], approve: bool) -> None:
        decide = config_changes.approve if approve else config_changes.reject
        for change in queryset.filter(status=ConfigChangeStatus.REQUESTED):
            try:
                decide(change_id=change.pk, approver_id=signed_in_id(request))
            except GoldbookError as exc:
                self.message_user(request, f"Change #{change.pk}: {exc}", messages.ERROR)
            else:
                verb = "approved and applied" if approve else "rejected"
                self.message_user(request, f"Change #{change.pk} {verb}.", messages.SUCCESS)

    @admin.action(description="Approve and apply selected changes", permissions=["approve"])
    def approve(self, request: HttpRequest, queryset: QuerySet[ConfigChange]) -> None:
        self._decide(request, queryset, approve=True)

    @admin.action(description="Reject selected changes", permissions=["approve"])
    def reject(self, request: HttpRequest, queryset: QuerySet[ConfigChange]) -> None:
        self._decide(request, queryset, approve=False)
