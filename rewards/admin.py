"""Admin for rewards. Money is entered and shown in coins (wallet.money_fields) and stored in
minor units; every balance change goes through rewards.services (actions), never through a
model save here."""

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import Case, QuerySet, Value, When
from django.http import HttpRequest
from django.utils.functional import Promise
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.admin import FourEyesConfigAdmin
from core.config_changes import Snapshot, changed, lowered, raised, switched_on
from wallet.money_fields import MoneyField, amount_text, credits, formatter, money_column, read_only_fields

from . import (
    admin_intake,  # noqa: F401  (registers the forum integrations' admin)
    services,
)
from .errors import RewardsError
from .models import (
    ActivityEvent,
    Award,
    Booster,
    Bounty,
    EarningRule,
    EventStatus,
    GroupGrant,
    Redemption,
    RedemptionStatus,
    Referral,
    ReferralStatus,
    Reward,
    RewardDebt,
    RewardProfile,
    UserBadge,
)


def _coins_field(label: str | Promise) -> MoneyField:
    return MoneyField(min_value=Decimal("0.01"), label=label, help_text=_("In coins, e.g. 5.00."))


class RuleForm(forms.ModelForm):
    amount = _coins_field(_("Coins"))

    class Meta:
        model = EarningRule
        fields = (
            "name",
            "event_type",
            "amount",
            "min_upvotes",
            "cycle",
            "max_per_cycle",
            "once_per_object",
            "exempt_from_daily_cap",
            "is_active",
            "starts_at",
            "ends_at",
        )


class RewardForm(forms.ModelForm):
    price = _coins_field(_("Price"))

    class Meta:
        model = Reward
        fields = (
            "name",
            "slug",
            "description",
            "price",
            "image",
            "kind",
            "stock",
            "per_user_limit",
            "starts_at",
            "ends_at",
            "is_active",
            "group",
            "duration_days",
            "badge_label",
            "title_text",
            "sort_order",
        )


@admin.register(ActivityEvent)
class ActivityEventAdmin(admin.ModelAdmin):
    list_display = (
        "event_id",
        "source",
        "type",
        "user_email",
        "user_external_id",
        "object_type",
        "object_id",
        "status",
        "note",
    )
    list_filter = ("status", "type", "source")
    search_fields = ("event_id", "user_email", "user_external_id", "object_id")
    readonly_fields = [f.name for f in ActivityEvent._meta.fields]
    actions = ["retry"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description=_("Re-apply failed events"))
    def retry(self, request: HttpRequest, queryset: QuerySet[ActivityEvent]) -> None:
        for event in queryset.filter(status=EventStatus.FAILED):
            services.event_retry(event_id=event.pk)
        self.message_user(request, gettext("Failed events were re-applied where their user is known."))


@admin.register(EarningRule)
class EarningRuleAdmin(FourEyesConfigAdmin):
    """A new rule, or one that pays more or more often, waits for a second staff member."""

    form = RuleForm
    value_formatters = {"amount": formatter()}
    list_display = (
        "name",
        "event_type",
        "coins",
        "min_upvotes",
        "cycle",
        "max_per_cycle",
        "exempt_from_daily_cap",
        "is_active",
    )
    list_filter = ("event_type", "is_active")

    coins = money_column("amount", _("Coins"))

    def preview_lines(self, request: HttpRequest, form: Any, obj: Any) -> list[str]:
        text = gettext("Each award pays %(coins)s.") % {"coins": amount_text(credits(), form.instance.amount)}
        return [text, *super().preview_lines(request, form, obj)]

    def creates_money(self, before: Snapshot | None, after: Snapshot) -> bool:
        limit_raised = (
            before is not None
            and before["max_per_cycle"] != 0
            and (after["max_per_cycle"] == 0 or after["max_per_cycle"] > before["max_per_cycle"])
        )
        return (
            limit_raised
            or raised(before, after, "amount", "ends_at")
            or lowered(before, after, "min_upvotes", "starts_at")
            or switched_on(before, after, "is_active", "exempt_from_daily_cap")
            or changed(before, after, "event_type", "cycle")
            or bool(before and before["once_per_object"] and not after["once_per_object"])
        )


@admin.register(Booster)
class BoosterAdmin(FourEyesConfigAdmin):
    """Every booster creates money: a new one, a higher multiplier, a longer window or more rules
    wait for a second staff member."""

    list_display = ("name", "multiplier", "starts_at", "ends_at", "is_active")
    filter_horizontal = ("rules",)

    def creates_money(self, before: Snapshot | None, after: Snapshot) -> bool:
        return (
            raised(before, after, "multiplier", "ends_at")
            or lowered(before, after, "starts_at")
            or switched_on(before, after, "is_active")
            or bool(before and set(after["rules"]) - set(before["rules"]))
        )


@admin.register(Award)
class AwardAdmin(admin.ModelAdmin):
    list_display = ("pk", "rule", "user", "object_key", "coins", "status", "created_at")
    list_filter = ("status", "rule")
    search_fields = ("user__email", "object_key")
    exclude = ("amount", "base_amount")
    readonly_fields = read_only_fields(Award, *exclude)
    actions = ["reverse"]
    coins = amount_shown = money_column("amount", _("Coins"))
    base_amount_shown = money_column("base_amount", _("Base coins"))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    @admin.action(description=_("Reverse selected awards (linked reversal; uncovered part becomes debt)"))
    def reverse(self, request: HttpRequest, queryset: QuerySet[Award]) -> None:
        for award in queryset:
            services.award_reverse(award_id=award.pk, reason=f"reversed by {request.user}")
        self.message_user(request, gettext("Awards reversed."))


@admin.register(RewardDebt)
class RewardDebtAdmin(admin.ModelAdmin):
    list_display = ("user", "award", "amount_shown", "recovered_shown", "created_at")
    exclude = ("amount", "recovered")
    readonly_fields = read_only_fields(RewardDebt, *exclude)
    amount_shown = money_column("amount", _("Amount"))
    recovered_shown = money_column("recovered", _("Recovered"))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Bounty)
class BountyAdmin(admin.ModelAdmin):
    list_display = ("pk", "title", "offerer", "coins", "status", "answer_count", "expires_at", "winner")
    list_filter = ("status",)
    search_fields = ("title", "thread_ref", "offerer__email")
    exclude = ("amount",)
    readonly_fields = read_only_fields(Bounty, *exclude)
    coins = amount_shown = money_column("amount", _("Coins"))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(Reward)
class RewardAdmin(admin.ModelAdmin):
    form = RewardForm
    list_display = ("name", "kind", "price_coins", "stock", "per_user_limit", "is_active", "starts_at", "ends_at")
    list_filter = ("kind", "is_active")
    prepopulated_fields = {"slug": ("name",)}

    price_coins = money_column("price", _("Price"))


@admin.register(Redemption)
class RedemptionAdmin(admin.ModelAdmin):
    list_display = ("pk", "reward", "user", "price_coins", "status", "created_at", "resolved_by")
    list_filter = ("status", "reward__kind")
    search_fields = ("user__email", "reward__name")
    exclude = ("price",)
    readonly_fields = [f for f in read_only_fields(Redemption, *exclude) if f != "staff_note"]
    actions = ["fulfil", "cancel_and_refund"]
    price_coins = price_shown = money_column("price", _("Price"))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description=_("Mark fulfilled"))
    def fulfil(self, request: HttpRequest, queryset: QuerySet[Redemption]) -> None:
        for r in queryset.filter(status=RedemptionStatus.PENDING):
            services.redemption_fulfil(redemption_id=r.pk, staff_id=request.user.pk)
        self.message_user(request, gettext("Pending redemptions fulfilled."))

    @admin.action(description=_("Cancel and refund"))
    def cancel_and_refund(self, request: HttpRequest, queryset: QuerySet[Redemption]) -> None:
        for r in queryset:
            try:
                services.redemption_cancel(redemption_id=r.pk, staff_id=request.user.pk)
            except RewardsError as exc:
                self.message_user(request, f"#{r.pk}: {exc}", level=messages.WARNING)
        self.message_user(request, gettext("Pending redemptions cancelled and refunded."))


@admin.register(GroupGrant)
class GroupGrantAdmin(admin.ModelAdmin):
    list_display = ("user", "group", "expires_at", "removed_at")
    list_filter = ("group",)
    raw_id_fields = ("user", "redemption")


@admin.register(UserBadge)
class UserBadgeAdmin(admin.ModelAdmin):
    list_display = ("user", "label", "granted_at")
    search_fields = ("user__email", "label")
    raw_id_fields = ("user", "redemption")


@admin.register(RewardProfile)
class RewardProfileAdmin(admin.ModelAdmin):
    list_display = ("user", "referral_code", "title", "debt_shown")
    search_fields = ("user__email", "referral_code")
    exclude = ("debt",)
    readonly_fields = ("user", "referral_code", "debt_shown")
    debt_shown = money_column("debt", _("Debt"))


@admin.register(Referral)
class ReferralAdmin(admin.ModelAdmin):
    """Payouts held for review (same IP on the web or the API, or the same wallet) are listed
    first; staff approve (pay) or reject them with the actions."""

    list_display = ("referrer", "referred", "status", "same_ip", "same_wallet", "ip", "created_at", "converted_at")
    list_filter = ("status", "same_ip", "same_wallet")
    readonly_fields = [f.name for f in Referral._meta.fields if f.name != "review_note"]
    actions = ["approve", "reject"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[Referral]:
        held_first = Case(When(status=ReferralStatus.REVIEW, then=Value(0)), default=Value(1))
        return super().get_queryset(request).order_by(held_first, "-created_at")

    @admin.action(description=_("Approve held referrals (pay the referrer)"))
    def approve(self, request: HttpRequest, queryset: QuerySet[Referral]) -> None:
        for r in queryset.filter(status=ReferralStatus.REVIEW):
            services.referral_review(referral_id=r.pk, approve=True, staff_id=request.user.pk)
        self.message_user(request, gettext("Approved."))

    @admin.action(description=_("Reject held referrals"))
    def reject(self, request: HttpRequest, queryset: QuerySet[Referral]) -> None:
        for r in queryset.filter(status=ReferralStatus.REVIEW):
            services.referral_review(referral_id=r.pk, approve=False, staff_id=request.user.pk)
        self.message_user(request, gettext("Rejected."))
