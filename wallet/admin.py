"""Ledger admin: everything read-only except adjustment requests, which go through services."""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Case, F, OuterRef, QuerySet, Subquery, Sum, When
from django.db.models.functions import Coalesce
from django.http import HttpRequest
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.admin import PreviewAdmin
from core.approvals import FourEyesAdmin
from core.requests import signed_in_id

from . import services
from .errors import WalletError
from .models import Account, AdjustmentRequest, AdjustmentStatus, Currency, Entry, Hold, Transfer
from .money_fields import MoneyField, amount_text, credits, money_column


class ReadOnlyAdmin(admin.ModelAdmin):
    """For records only services write (ledger rows, provider messages, download records)."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Currency)
class CurrencyAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "decimal_places")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        # Changing the places of a currency in use would rescale every stored amount.
        return ("code", "decimal_places") if obj else ()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Account)
class AccountAdmin(ReadOnlyAdmin):
    """A system account's balance is the sum of its entries (it keeps no cached balance, see
    Account), summed here as the audit does, by one subquery per system account on the page."""

    list_display = ("id", "owner", "currency", "balance_display", "held_display", "frozen", "version", "created_at")
    list_filter = ("currency", "system_name", "frozen")
    search_fields = ("user__email", "system_name")
    list_select_related = ("user", "currency")
    exclude = ("balance", "held")
    readonly_fields = ("balance_display", "held_display")

    def get_queryset(self, request: HttpRequest) -> QuerySet[Account]:
        entries = Entry.objects.filter(account=OuterRef("pk")).order_by().values("account")
        summed = Subquery(entries.annotate(total=Sum("amount")).values("total"))
        shown = Case(When(user__isnull=True, then=Coalesce(summed, 0)), default=F("balance"))
        accounts: QuerySet[Account] = super().get_queryset(request)
        return accounts.annotate(shown_balance=shown)

    @admin.display(description=_("Owner"))
    def owner(self, obj: Account) -> str:
        return obj.system_name or (obj.user.email if obj.user else "")

    @admin.display(description=_("Balance"), ordering="shown_balance")
    def balance_display(self, obj: Account) -> str:
        return amount_text(obj.currency, getattr(obj, "shown_balance", obj.balance), unit=False)

    @admin.display(description=_("Held"), ordering="held")
    def held_display(self, obj: Account) -> str:
        return "" if obj.is_system else amount_text(obj.currency, obj.held, unit=False)


ENTRY_COLUMNS = (
    money_column("amount", _("Amount"), currency="account.currency", signed=True),
    money_column("balance_after", _("Balance after"), currency="account.currency"),
)


class EntryInline(admin.TabularInline):
    model = Entry
    extra = 0
    can_delete = False
    fields = ("account", "amount_display", "balance_after_display", "account_version")
    readonly_fields = fields
    amount_display, balance_after_display = ENTRY_COLUMNS

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Transfer)
class TransferAdmin(ReadOnlyAdmin):
    list_display = ("id", "created_at", "kind", "amount_display", "debit_account", "credit_account", "memo")
    list_filter = ("kind", "currency", ("created_at", admin.DateFieldListFilter))
    search_fields = ("debit_account__user__email", "credit_account__user__email", "=kind", "memo", "=idempotency_key")
    search_help_text = _("A member's email, a kind (purchase, redeem…), words of the memo or an exact idempotency key.")
    date_hierarchy = "created_at"
    list_select_related = ("debit_account__user", "credit_account__user", "currency")
    # Counting every transfer for "N results (M total)" is a full scan on a large ledger.
    show_full_result_count = False
    inlines = [EntryInline]

    exclude = ("amount",)
    readonly_fields = ("amount_display",)
    amount_display = money_column("amount", _("Amount"), currency="currency")


@admin.register(Entry)
class EntryAdmin(ReadOnlyAdmin):
    list_display = ("id", "created_at", "account", "amount_display", "balance_after_display", "transfer_kind")
    list_filter = ("transfer__kind", ("created_at", admin.DateFieldListFilter), "account__system_name")
    search_fields = ("account__user__email", "=transfer__kind", "transfer__memo")
    search_help_text = _("A member's email, a kind (purchase, redeem…) or words of the memo.")
    date_hierarchy = "created_at"
    list_select_related = ("account__user", "transfer", "account__currency")
    show_full_result_count = False

    @admin.display(description=_("Kind"), ordering="transfer__kind")
    def transfer_kind(self, obj: Entry) -> str:
        return obj.transfer.get_kind_display()

    exclude = ("amount", "balance_after")
    readonly_fields = ("amount_display", "balance_after_display")
    amount_display, balance_after_display = ENTRY_COLUMNS


@admin.register(Hold)
class HoldAdmin(ReadOnlyAdmin):
    list_display = ("id", "account", "amount_display", "captured_display", "status", "kind", "memo", "expires_at")
    list_filter = ("status", "kind", ("expires_at", admin.DateFieldListFilter))
    search_fields = ("account__user__email", "=idempotency_key", "memo")
    search_help_text = _("A member's email, words of the memo or an exact idempotency key.")
    list_select_related = ("account__user", "account__currency")

    exclude = ("amount", "captured_amount")
    readonly_fields = ("amount_display", "captured_display")
    amount_display = money_column("amount", _("Amount"), currency="account.currency")

    @admin.display(description=_("Captured"), ordering="captured_amount")
    def captured_display(self, obj: Hold) -> str:
        return amount_text(obj.account.currency, obj.captured_amount, unit=False) if obj.status == "captured" else "—"


class AdjustmentRequestForm(forms.ModelForm):
    amount = MoneyField(
        min_value=None,
        allow_zero=False,
        label=_("Amount"),
        help_text=_("In credits, signed: 10.50 credits the member 10.50, -2 takes 2.00 away."),
    )

    class Meta:
        model = AdjustmentRequest
        fields = ("account", "amount", "reason")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        account_field = self.fields["account"]
        assert isinstance(account_field, forms.ModelChoiceField)  # noqa: S101  # a ForeignKey's form field
        account_field.queryset = Account.objects.filter(user__isnull=False).select_related("user", "currency")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        account = data.get("account")
        if account is not None and account.currency_id != credits().code:
            self.add_error(
                "account", gettext("Adjust accounts in the site currency (%(code)s).") % {"code": credits().code}
            )
        return data


@admin.register(AdjustmentRequest)
class AdjustmentRequestAdmin(FourEyesAdmin, PreviewAdmin):
    form = AdjustmentRequestForm
    list_display = ("id", "account", "amount_display", "reason", "status", "requested_by", "decided_by", "requested_at")
    list_filter = ("status",)
    search_fields = ("account__user__email", "reason")
    list_select_related = ("account__user", "account__currency", "requested_by", "decided_by")
    actions = ["approve", "reject"]
    readonly_fields = ("status", "requested_by", "decided_by", "decided_at", "decision_note", "transfer")
    request_permission = "wallet.request_adjustment"
    approve_permission = "wallet.approve_adjustment"

    amount_display = money_column("amount", _("Amount"), currency="account.currency", signed=True)

    def preview_lines(self, request: HttpRequest, form: Any, obj: Any) -> list[str]:
        req: AdjustmentRequest = form.instance
        account, amount = req.account, req.amount
        text = gettext(
            "Requests %(amount)s for %(owner)s: their balance goes from %(before)s to %(after)s "
            "once a second staff member approves it."
        )
        lines = [
            text
            % {
                "amount": amount_text(account.currency, amount, signed=True),
                "owner": account.user.email if account.user else account.system_name,
                "before": amount_text(account.currency, account.balance),
                "after": amount_text(account.currency, account.balance + amount),
            }
        ]
        if amount < 0 and -amount > account.balance - account.held:
            available = amount_text(account.currency, account.balance - account.held)
            lines.append(
                gettext("Only %(available)s is available now: approving it would fail.") % {"available": available}
            )
        return lines

    def save_model(self, request: HttpRequest, obj: AdjustmentRequest, form: Any, change: bool) -> None:
        created = services.adjustment_request(
            account=obj.account, amount=obj.amount, reason=obj.reason, requested_by_id=signed_in_id(request)
        )
        obj.pk = created.pk

    def _decide(self, request: HttpRequest, queryset: QuerySet[AdjustmentRequest], approve: bool) -> None:
        # The services check the permission and four-eyes again; this only spares a useless form.
        if not self.has_approve_permission(request):
            self.message_user(request, gettext("You may not decide on adjustments."), messages.ERROR)
            return
        for req in queryset.filter(status=AdjustmentStatus.REQUESTED):
            try:
                if approve:
                    services.adjustment_approve(request_id=req.pk, approver_id=signed_in_id(request))
                else:
                    services.adjustment_reject(request_id=req.pk, approver_id=signed_in_id(request))
            except WalletError as exc:
                text = gettext("Adjustment #%(id)s: %(error)s") % {"id": req.pk, "error": exc}
                self.message_user(request, text, messages.ERROR)
            else:
                if approve:
                    text = gettext("Adjustment #%(id)s approved and posted.") % {"id": req.pk}
                else:
                    text = gettext("Adjustment #%(id)s rejected.") % {"id": req.pk}
                self.message_user(request, text, messages.SUCCESS)

    @admin.action(description=_("Approve and post selected adjustments"), permissions=["approve"])
    def approve(self, request: HttpRequest, queryset: QuerySet[AdjustmentRequest]) -> None:
        self._decide(request, queryset, approve=True)

    @admin.action(description=_("Reject selected adjustments"), permissions=["approve"])
    def reject(self, request: HttpRequest, queryset: QuerySet[AdjustmentRequest]) -> None:
        self._decide(request, queryset, approve=False)


from . import admin_holds  # noqa: E402, F401 - members on hold (issue 13), kept apart from the money fields
