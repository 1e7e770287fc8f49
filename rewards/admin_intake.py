"""Admin for the forums that post activity events, and for which forum account credits whom.

An integration's HMAC secret is never shown or edited in a form: it is made by the service when
the integration is added, shown once on the page that follows, and afterwards only replaced
(the "Rotate secret" action, which again shows the new one once). Anyone who can open the admin
later sees that a secret exists and when it changed (history), never the secret itself.
"""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from .models import Integration, MemberLink
from .services import intake


class IntegrationForm(forms.ModelForm):
    class Meta:
        model = Integration
        fields = ("name", "is_active")


@admin.register(Integration)
class IntegrationAdmin(SimpleHistoryAdmin):
    form = IntegrationForm
    list_display = ("name", "is_active", "created_at")
    readonly_fields = ("created_at",)
    actions = ["rotate_secret"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ("name", "created_at") if obj else ("created_at",)  # forums sign with the name too

    def save_model(self, request: HttpRequest, obj: Integration, form: Any, change: bool) -> None:
        if change:
            super().save_model(request, obj, form, change)
            return
        created, secret = intake.integration_create(name=obj.name)
        if not obj.is_active:
            created.is_active = False
            created.save(update_fields=["is_active"])
        obj.pk, obj.secret = created.pk, secret

    def response_add(
        self, request: HttpRequest, obj: Integration, post_url_continue: str | None = None
    ) -> HttpResponse:
        return self._show_secrets(request, [(obj, obj.secret)], created=True)

    @admin.action(description=_("Rotate secret (the forum must be given the new one)"), permissions=["change"])
    def rotate_secret(self, request: HttpRequest, queryset: QuerySet[Integration]) -> HttpResponse | None:
        if queryset.count() != 1:
            self.message_user(request, gettext("Rotate one integration at a time."), messages.ERROR)
            return None
        integration, secret = intake.integration_rotate(name=queryset.get().name)
        return self._show_secrets(request, [(integration, secret)], created=False)

    def _show_secrets(
        self, request: HttpRequest, pairs: list[tuple[Integration, str]], *, created: bool
    ) -> HttpResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": "Integration secret",
            "pairs": pairs,
            "created": created,
        }
        response = TemplateResponse(request, "admin/rewards/integration/secret.html", context)
        response["Cache-Control"] = "no-store"
        return response


@admin.register(MemberLink)
class MemberLinkAdmin(SimpleHistoryAdmin):
    """Which forum account credits which member. Staff can see and undo (delete) a link, never
    re-point it: events then wait as pending until the member's verified address claims them."""

    list_display = ("integration", "external_id", "user", "created_at")
    list_filter = ("integration",)
    search_fields = ("external_id", "user__email")
    readonly_fields = ("integration", "external_id", "user", "created_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False
