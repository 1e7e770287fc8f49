"""Payments admin: packages, tiers and exchange rates are editable; payments and provider
messages are read-only, changed only through actions that call services."""

from fractions import Fraction
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from core.admin import FourEyesConfigAdmin
from core.approvals import FourEyesAdmin
from core.config_changes import Snapshot, lowered, raised, switched_on
from core.requests import signed_in_id
from wallet.admin import ReadOnlyAdmin
from wallet.money_fields import formatter, money_column, usd

from . import admin_forms, selectors, services
from .errors import PaymentError
from .models import (
    BonusTier,
    CreditPackage,
    ExchangeRate,
    LegacyConversion,
    LinkedWallet,
    Payment,
    ProviderMessage,
    RefundRequest,
    RefundStatus,
)

# A package's and a payment's price and credits, in dollars and credits.
PRICE_COLUMNS = (
    money_column("usd_cents", _("Price"), currency=usd),
    money_column("base_credits", _("Base credits")),
    money_column("bonus_credits", _("Bonus credits")),
)


@admin.register(CreditPackage)
class CreditPackageAdmin(FourEyesConfigAdmin):
    """A package that gives more credits than its price buys as a custom amount creates money: adding
    one, raising its credits per dollar or switching it on waits for a second staff member.
    (`active` is not editable in the list, so every switch-on goes through this check.)
    Prices and credits are typed and shown in dollars and credits (admin_forms)."""

    form = admin_forms.CreditPackageForm
    value_formatters = {"usd_cents": formatter(usd), "base_credits": formatter(), "bonus_credits": formatter()}
    list_display = ("name", "price", "base", "bonus", "badge", "style", "sort_order", "active")
    list_editable = ("sort_order",)
    list_filter = ("style", "active", "price_outside_custom_range")

    price, base, bonus = PRICE_COLUMNS

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # deactivate instead: payments keep pointing at their package

    def preview_lines(self, request: HttpRequest, form: Any, obj: Any) -> list[str]:
        return [*admin_forms.package_preview(form.instance), *super().preview_lines(request, form, obj)]

    def creates_money(self, before: Snapshot | None, after: Snapshot) -> bool:
        def per_dollar(s: Snapshot) -> Fraction:
            return Fraction(s["base_credits"] + s["bonus_credits"], s["usd_cents"])

        paid_for = selectors.credits_for_usd_cents(after["usd_cents"])  # what a custom amount gives
        if not after["active"] or after["base_credits"] + after["bonus_credits"] <= paid_for:
            return False
        return switched_on(before, after, "active") or bool(before and per_dollar(after) > per_dollar(before))


@admin.register(BonusTier)
class BonusTierAdmin(FourEyesConfigAdmin):
    """Every bonus tier creates money: a new one, a higher percent or a lower threshold waits for
    a second staff member."""

    form = admin_forms.BonusTierForm
    value_formatters = {"min_usd_cents": formatter(usd)}
    list_display = ("threshold", "percent")
    threshold = money_column("min_usd_cents", _("From (USD)"), currency=usd)

    def preview_lines(self, request: HttpRequest, form: Any, obj: Any) -> list[str]:
        return [*admin_forms.tier_preview(form.instance), *super().preview_lines(request, form, obj)]

    def creates_money(self, before: Snapshot | None, after: Snapshot) -> bool:
        return raised(before, after, "percent") or lowered(before, after, "min_usd_cents")


@admin.register(ExchangeRate)
class ExchangeRateAdmin(SimpleHistoryAdmin):
    """Staff add a new dated row for a new rate; the member pages use the latest in force."""

    list_display = ("currency", "rate", "effective_date", "set_by", "created_at")
    list_filter = ("currency",)
    readonly_fields = ("set_by", "created_at")

    def save_model(self, request: HttpRequest, obj: ExchangeRate, form: Any, change: bool) -> None:
        obj.set_by_id = signed_in_id(request)
        super().save_model(request, obj, form, change)


class MessageInline(admin.TabularInline):
    model = ProviderMessage
    extra = 0
    can_delete = False
    fields = ("kind", "message_id", "verified", "verification_error", "outcome", "received_at")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "user",
        "provider",
        "package_name",
        "price",
        "status",
        "flagged_for_review",
        "excess_amount",
        "reference",
        "created_at",
    )
    list_filter = ("provider", "status", "flagged_for_review")
    search_fields = ("=id", "reference", "user__email", "rejected_reference")
    list_select_related = ("user",)
    inlines = [MessageInline]
    actions = ["request_refund"]
    exclude = ("usd_cents", "base_credits", "bonus_credits")
    readonly_fields = ("price", "base", "bonus")

    price, base, bonus = PRICE_COLUMNS

    def has_request_refund_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("payments.request_refund")

    @admin.action(description=_("Request a refund (a second staff member approves it)"), permissions=["request_refund"])
    def request_refund(self, request: HttpRequest, queryset: QuerySet[Payment]) -> None:
        for payment in queryset:
            try:
                services.refund_request(
                    payment_id=payment.pk,
                    requested_by_id=signed_in_id(request),
                    reason="Requested from the admin",
                )
            except PaymentError as exc:
                self.message_user(
                    request,
                    gettext("Payment #%(id)s: %(error)s") % {"id": payment.pk, "error": exc.message},
                    messages.ERROR,
                )
            else:
                self.message_user(
                    request, gettext("Payment #%(id)s: refund requested.") % {"id": payment.pk}, messages.SUCCESS
                )


@admin.register(ProviderMessage)
class ProviderMessageAdmin(ReadOnlyAdmin):
    list_display = ("id", "provider", "kind", "message_id", "payment", "verified", "outcome", "received_at")
    list_filter = ("provider", "kind", "verified")
    search_fields = ("message_id", "=payment__id")
    actions = ["reprocess"]

    @admin.action(description=_("Re-process the selected messages"))
    def reprocess(self, request: HttpRequest, queryset: QuerySet[ProviderMessage]) -> None:
        for msg in queryset:
            try:
                outcome = services.message_reprocess(message_id=msg.pk)
            except PaymentError as exc:
                self.message_user(
                    request,
                    gettext("Message #%(id)s: %(error)s") % {"id": msg.pk, "error": exc.message},
                    messages.ERROR,
                )
            else:
                self.message_user(
                    request, gettext("Message #%(id)s: %(outcome)s") % {"id": msg.pk, "outcome": outcome}, messages.INFO
                )


@admin.register(RefundRequest)
class RefundRequestAdmin(FourEyesAdmin, admin.ModelAdmin):
    list_display = ("id", "payment", "status", "requested_by", "decided_by", "requested_at", "decision_note")
    list_filter = ("status",)
    fields = ("payment", "reason")
    raw_id_fields = ("payment",)
    actions = ["approve", "reject"]
    request_permission = "payments.request_refund"
    approve_permission = "payments.approve_refund"

    def save_model(self, request: HttpRequest, obj: RefundRequest, form: Any, change: bool) -> None:
        try:
            created = services.refund_request(
                payment_id=obj.payment_id, requested_by_id=signed_in_id(request), reason=obj.reason
            )
        except PaymentError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return
        obj.pk = created.pk

    # The services check the permission and four-eyes again; declaring it hides the actions.
    @admin.action(description=_("Approve (reverse the credits)"), permissions=["approve"])
    def approve(self, request: HttpRequest, queryset: QuerySet[RefundRequest]) -> None:
        for req in queryset.filter(status=RefundStatus.REQUESTED):
            try:
                services.refund_approve(request_id=req.pk, approver_id=signed_in_id(request))
            except PaymentError as exc:
                self.message_user(
                    request, gettext("Refund #%(id)s: %(error)s") % {"id": req.pk, "error": exc.message}, messages.ERROR
                )
            else:
                self.message_user(
                    request, gettext("Refund #%(id)s: approved and reversed.") % {"id": req.pk}, messages.SUCCESS
                )

    @admin.action(description=_("Reject"), permissions=["approve"])
    def reject(self, request: HttpRequest, queryset: QuerySet[RefundRequest]) -> None:
        for req in queryset.filter(status=RefundStatus.REQUESTED):
            try:
                services.refund_reject(request_id=req.pk, approver_id=signed_in_id(request))
            except PaymentError as exc:
                self.message_user(
                    request, gettext("Refund #%(id)s: %(error)s") % {"id": req.pk, "error": exc.message}, messages.ERROR
                )


@admin.register(LinkedWallet)
class LinkedWalletAdmin(ReadOnlyAdmin):
    list_display = ("address", "user", "linked_at")
    search_fields = ("address", "user__email")


@admin.register(LegacyConversion)
class LegacyConversionAdmin(ReadOnlyAdmin):
    list_display = ("row_key", "user", "plan", "credits_shown", "created_at")
    exclude = ("credits",)
    readonly_fields = ("credits_shown",)
    credits_shown = money_column("credits", _("Credits"))
    search_fields = ("row_key", "user__email")
