"""Downloads admin. EA review goes through `services.ea_verify` / `ea_reject`; jobs, records and
unlocks are read-only (they mirror ledger operations)."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from core.requests import signed_in_id
from wallet.admin import ReadOnlyAdmin
from wallet.money_fields import MoneyField, money_column

from . import services
from .errors import DownloadError
from .models import (
    AdCompletion,
    DownloadJob,
    DownloadRecord,
    FreeAllowance,
    Item,
    ItemKind,
    Unlock,
    Verification,
    song_price_minor,
)


class ItemForm(forms.ModelForm):
    price = MoneyField(
        initial=song_price_minor, label=_("Price"), help_text=_("In credits, e.g. 0.35; 0 makes the item free.")
    )

    class Meta:
        model = Item
        fields = ("price",)  # the admin's fieldsets name the rest


@admin.register(Item)
class ItemAdmin(admin.ModelAdmin):
    form = ItemForm
    list_display = (
        "title",
        "kind",
        "price_shown",
        "pricing_mode",
        "is_active",
        "verification",
        "uploader",
        "created_at",
    )
    list_filter = ("kind", "verification", "pricing_mode", "is_active", "access_group")
    search_fields = ("title", "slug", "symbol")
    readonly_fields = ("size", "sha256", "verification", "verified_at", "verified_by", "created_at", "updated_at")
    raw_id_fields = ("uploader",)
    actions = ["verify_eas", "reject_eas"]
    price_shown = money_column("price", _("Price"))
    fieldsets = (
        (None, {"fields": ("title", "slug", "description", "kind", "file", "size", "sha256")}),
        ("Sale", {"fields": ("price", "pricing_mode", "is_active", "access_group", "uploader")}),
        (
            "Expert advisor",
            {
                "fields": (
                    "platform",
                    "symbol",
                    "timeframe",
                    ("backtest_start", "backtest_end"),
                    ("profit_factor", "max_drawdown_pct"),
                    "report_file",
                    "verification",
                    "verified_at",
                    "verified_by",
                    "verification_note",
                )
            },
        ),
        ("Dates", {"fields": ("created_at", "updated_at")}),
    )

    def _decide(self, request: HttpRequest, queryset: QuerySet[Item], verify: bool) -> None:
        done = 0
        for item in queryset.filter(kind=ItemKind.EA):
            try:
                if verify:
                    services.ea_verify(item_id=item.pk, staff_id=signed_in_id(request))
                else:
                    services.ea_reject(item_id=item.pk, staff_id=signed_in_id(request))
                done += 1
            except DownloadError as exc:
                self.message_user(
                    request, gettext("%(item)s: %(error)s") % {"item": item, "error": exc.message}, messages.ERROR
                )
        skipped = queryset.exclude(kind=ItemKind.EA).count()
        if verify:
            done_text = ngettext(
                "%(count)d EA verified; uploaders are notified by email.",
                "%(count)d EAs verified; uploaders are notified by email.",
                done,
            )
        else:
            done_text = ngettext(
                "%(count)d EA rejected; uploaders are notified by email.",
                "%(count)d EAs rejected; uploaders are notified by email.",
                done,
            )
        self.message_user(request, done_text % {"count": done}, messages.SUCCESS)
        if skipped:
            self.message_user(
                request,
                ngettext(
                    "%(count)d item skipped: only EAs are reviewed.",
                    "%(count)d items skipped: only EAs are reviewed.",
                    skipped,
                )
                % {"count": skipped},
                messages.WARNING,
            )

    @admin.action(description=_("Verify selected EAs (lists them, emails the uploader)"))
    def verify_eas(self, request: HttpRequest, queryset: QuerySet[Item]) -> None:
        self._decide(request, queryset, verify=True)

    @admin.action(description=_("Reject selected EAs (hides them, emails the uploader)"))
    def reject_eas(self, request: HttpRequest, queryset: QuerySet[Item]) -> None:
        self._decide(request, queryset, verify=False)

    def save_model(self, request: HttpRequest, obj: Item, form: Any, change: bool) -> None:
        # EAs added by staff start in review like members' uploads; other kinds need none.
        if not change and obj.is_ea:
            obj.verification = Verification.PENDING
        if not change or "file" in form.changed_data:
            obj.size, obj.sha256 = services.file_digest(obj.file)
        super().save_model(request, obj, form, change)


@admin.register(DownloadJob)
class DownloadJobAdmin(ReadOnlyAdmin):
    list_display = (
        "public_id",
        "user",
        "status",
        "requested_songs",
        "delivered_songs",
        "credits_charged_shown",
        "created_at",
    )
    list_filter = ("status",)
    search_fields = ("public_id", "user__email")
    exclude = ("unit_price", "credits_charged", "available_at_start")
    readonly_fields = tuple(f"{name}_shown" for name in exclude)
    unit_price_shown = money_column("unit_price", _("Unit price"))
    credits_charged_shown = money_column("credits_charged", _("Credits charged"))
    available_at_start_shown = money_column("available_at_start", _("Available at start"))


@admin.register(DownloadRecord)
class DownloadRecordAdmin(ReadOnlyAdmin):
    list_display = ("id", "user", "item", "source", "charged_shown", "free_tier", "created_at")
    exclude = ("charged",)
    readonly_fields = ("charged_shown",)
    charged_shown = money_column("charged", _("Charged"))
    list_filter = ("source", "free_tier")
    search_fields = ("user__email", "item__title")


@admin.register(Unlock)
class UnlockAdmin(ReadOnlyAdmin):
    list_display = ("id", "user", "item", "created_at")


@admin.register(FreeAllowance)
class FreeAllowanceAdmin(ReadOnlyAdmin):
    list_display = ("user", "remaining", "used_total", "granted_by_ads", "updated_at")
    search_fields = ("user__email",)


@admin.register(AdCompletion)
class AdCompletionAdmin(ReadOnlyAdmin):
    list_display = ("nonce", "user", "issued_at", "created_at")
