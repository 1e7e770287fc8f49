"""The ledger: currencies, accounts, double-entry transfers, entries and two-phase holds.

Only `wallet.services` writes these tables. The invariants live in the database as well as in
Python: check constraints on balances and holds, unique idempotency keys, and (on PostgreSQL)
triggers that make transfers and entries append-only and require every transfer's entries to
sum to zero at commit (see migration 0002).
"""

from decimal import ROUND_DOWN, Decimal
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _


class LedgerImmutable(Exception):
    """Raised on any attempt to change or delete a posted ledger row."""


class AppendOnlyModel(models.Model):
    """Rows that, once written, are never updated or deleted (corrections are new rows)."""

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise LedgerImmutable(f"{type(self).__name__} #{self.pk} is append-only.")
        super().save(*args, **kwargs)

    def delete(self, *args: object, **kwargs: object) -> tuple[int, dict[str, int]]:
        raise LedgerImmutable(f"{type(self).__name__} #{self.pk} is append-only.")


class Currency(models.Model):
    code = models.CharField(max_length=16, primary_key=True, verbose_name=_("code"))
    name = models.CharField(max_length=64, verbose_name=_("name"))
    decimal_places = models.PositiveSmallIntegerField(default=2, verbose_name=_("decimal places"))

    class Meta:
        verbose_name = _("currency")
        verbose_name_plural = _("currencies")
        constraints = [
            models.CheckConstraint(condition=Q(decimal_places__lte=8), name="wallet_currency_places_lte_8"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.code})"

    @property
    def quantum(self) -> Decimal:
        return Decimal(1).scaleb(-self.decimal_places)

    def to_minor(self, amount: Decimal) -> int:
        """Decimal at the edge → integer minor units. Refuses amounts finer than the currency."""
        if not isinstance(amount, Decimal):
            raise TypeError("Amounts must be Decimal, never float.")
        scaled = amount.scaleb(self.decimal_places)
        if scaled != scaled.to_integral_value():
            raise ValueError(f"{amount} has more than {self.decimal_places} decimal places.")
        return int(scaled)

    def to_decimal(self, minor: int) -> Decimal:
        return Decimal(minor).scaleb(-self.decimal_places).quantize(self.quantum, rounding=ROUND_DOWN)


class SystemAccount(models.TextChoices):
    ISSUANCE = "issuance", _("Issuance")
    PROMOTIONS = "promotions", _("Bonus and promotions")
    REWARDS_POOL = "rewards_pool", _("Rewards pool")
    REVENUE = "revenue", _("Revenue")
    ESCROW = "escrow", _("Escrow")


class Account(models.Model):
    """One per user per currency, or a named system account.

    User accounts carry a cached balance, the amount held and a version, all changed only under
    a row lock. System accounts keep balance = held = 0 and version = 0 forever: their balance is
    the sum of their entries. Locking and updating one issuance or revenue row per transfer
    would serialise every transfer in the system behind that row.
    """

    currency = models.ForeignKey(
        Currency, on_delete=models.PROTECT, related_name="accounts", verbose_name=_("currency")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="wallet_accounts",
        verbose_name=_("member"),
    )
    system_name = models.CharField(
        max_length=32, choices=SystemAccount.choices, blank=True, verbose_name=_("system name")
    )
    balance = models.BigIntegerField(default=0, verbose_name=_("balance"))
    held = models.BigIntegerField(default=0, verbose_name=_("held"))
    version = models.BigIntegerField(default=0, verbose_name=_("version"))
    # The member is on hold for review (`member_holds.py`): debits other than staff corrections,
    # expiries and claw-backs are refused, checked under this row's lock. Never set on a system
    # account.
    frozen = models.BooleanField(default=False, verbose_name=_("on hold"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("account")
        verbose_name_plural = _("accounts")
        constraints = [
            models.CheckConstraint(condition=Q(balance__gte=0), name="wallet_account_balance_gte_0"),
            models.CheckConstraint(
                condition=Q(held__gte=0) & Q(held__lte=F("balance")), name="wallet_account_held_within_balance"
            ),
            models.CheckConstraint(
                condition=(Q(user__isnull=False) & Q(system_name=""))
                | (Q(user__isnull=True) & ~Q(system_name="") & Q(balance=0) & Q(held=0) & Q(version=0)),
                name="wallet_account_user_xor_system",
            ),
            models.UniqueConstraint(
                fields=["user", "currency"], condition=Q(user__isnull=False), name="wallet_account_one_per_user"
            ),
            models.UniqueConstraint(
                fields=["system_name", "currency"], condition=~Q(system_name=""), name="wallet_account_one_per_system"
            ),
        ]

    def __str__(self) -> str:
        owner = self.system_name or (self.user.email if self.user is not None else "?")
        return f"{owner} · {self.currency_id}"

    @property
    def is_system(self) -> bool:
        return bool(self.system_name)

    @property
    def available(self) -> int:
        return self.balance - self.held


class TransferKind(models.TextChoices):
    PURCHASE = "purchase", _("Purchase")
    BONUS = "bonus", _("Bonus")
    EARN = "earn", _("Earned")
    REDEEM = "redeem", _("Redeemed")
    DOWNLOAD = "download", _("Download")
    REFUND = "refund", _("Refund")
    ADJUSTMENT = "adjustment", _("Adjustment")
    REVERSAL = "reversal", _("Reversal")
    ESCROW = "escrow", _("Escrow")
    BOUNTY = "bounty", _("Bounty")
    CONVERSION = "conversion", _("Plan conversion")
    EXPIRY = "expiry", _("Expired")


class KindCategory(models.TextChoices):
    """What a transfer kind means to a member's statement. Every kind has exactly one category
    (KIND_CATEGORY); statement totals are sums over categories, never over lists of kinds kept
    elsewhere. What is held is not a category: it is `Account.held`, the sum of pending holds."""

    PURCHASE = "purchase", _("Purchase")  # credits bought
    BONUS = "bonus", _("Bonus")  # credits that came with a purchase
    EARNING = "earning", _("Earning")  # coins earned for activity
    SPENDING = "spending", _("Spending")  # credits left the member for something they got
    REVERSAL = "reversal", _("Reversal")  # undoes another transfer, or gives spent credits back
    ADJUSTMENT = "adjustment", _("Adjustment")  # staff corrections, plan conversions
    EXPIRY = "expiry", _("Expiry")  # promotional credits that lapsed unspent (breakage)


KIND_CATEGORY: dict[TransferKind, KindCategory] = {
    TransferKind.PURCHASE: KindCategory.PURCHASE,
    TransferKind.BONUS: KindCategory.BONUS,
    TransferKind.EARN: KindCategory.EARNING,
    TransferKind.REDEEM: KindCategory.SPENDING,
    TransferKind.DOWNLOAD: KindCategory.SPENDING,
    TransferKind.ESCROW: KindCategory.SPENDING,
    TransferKind.BOUNTY: KindCategory.SPENDING,
    TransferKind.REFUND: KindCategory.REVERSAL,
    TransferKind.REVERSAL: KindCategory.REVERSAL,
    TransferKind.ADJUSTMENT: KindCategory.ADJUSTMENT,
    TransferKind.CONVERSION: KindCategory.ADJUSTMENT,
    TransferKind.EXPIRY: KindCategory.EXPIRY,
}


def kinds_in(*categories: KindCategory) -> tuple[TransferKind, ...]:
    """The transfer kinds of the given categories, in declaration order."""
    return tuple(kind for kind in TransferKind if KIND_CATEGORY[kind] in categories)


class Transfer(AppendOnlyModel):
    """A positive amount moved from one account to another, in one currency.

    Its two entries (one per account, signed) sum to zero; the database checks that at commit.
    """

    # Ledger tables hold no index that another one already covers (a prefix of a composite one)
    # or that cannot narrow a search (a site's one or few currencies): each is written on every
    # transfer (issue 14: ~4% of a transfer's server time for the six dropped).
    currency = models.ForeignKey(Currency, on_delete=models.PROTECT, db_index=False, verbose_name=_("currency"))
    debit_account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="debits", verbose_name=_("debit account")
    )
    credit_account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="credits", verbose_name=_("credit account")
    )
    amount = models.BigIntegerField(verbose_name=_("amount"))
    kind = models.CharField(max_length=32, choices=TransferKind.choices, verbose_name=_("kind"))
    memo = models.CharField(max_length=255, blank=True, verbose_name=_("memo"))
    idempotency_key = models.CharField(max_length=200, unique=True, verbose_name=_("idempotency key"))
    # SHA-256 of the operation's parameters: the same key with other parameters is a conflict.
    fingerprint = models.CharField(max_length=64, verbose_name=_("fingerprint"))
    reverses = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversed_by", verbose_name=_("reverses")
    )
    hold = models.OneToOneField(
        "Hold", null=True, blank=True, on_delete=models.PROTECT, related_name="capture", verbose_name=_("hold")
    )
    cause_type = models.ForeignKey(  # searched through wallet_transfer_cause_idx
        ContentType, null=True, blank=True, on_delete=models.PROTECT, db_index=False, verbose_name=_("cause type")
    )
    cause_id = models.CharField(max_length=64, blank=True, verbose_name=_("cause id"))
    cause = GenericForeignKey("cause_type", "cause_id")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("transfer")
        verbose_name_plural = _("transfers")
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="wallet_transfer_amount_gt_0"),
            models.CheckConstraint(
                condition=~Q(debit_account=F("credit_account")), name="wallet_transfer_distinct_accounts"
            ),
        ]
        indexes = [
            models.Index(fields=["cause_type", "cause_id"], name="wallet_transfer_cause_idx"),
            models.Index(fields=["kind", "created_at"], name="wallet_transfer_kind_idx"),
        ]

    def __str__(self) -> str:
        return f"Transfer #{self.pk} {self.kind} {self.amount} {self.currency_id}"


class Entry(AppendOnlyModel):
    """One side of a transfer on one account. `amount` is signed: negative on the debited side.

    `balance_after` and `account_version` are the user account's values right after this entry;
    system accounts are never locked, so they have none (NULL).
    """

    # Searched through wallet_entry_one_per_account (transfer, account) and wallet_entry_history_idx
    # (account, -id): single-column indexes of their own would only cost every transfer two writes.
    transfer = models.ForeignKey(
        Transfer, on_delete=models.PROTECT, related_name="entries", db_index=False, verbose_name=_("transfer")
    )
    account = models.ForeignKey(
        Account, on_delete=models.PROTECT, related_name="entries", db_index=False, verbose_name=_("account")
    )
    amount = models.BigIntegerField(verbose_name=_("amount"))
    balance_after = models.BigIntegerField(null=True, blank=True, verbose_name=_("balance after"))
    account_version = models.BigIntegerField(null=True, blank=True, verbose_name=_("account version"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("entry")
        verbose_name_plural = _("entries")
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="wallet_entry_amount_nonzero"),
            models.UniqueConstraint(fields=["transfer", "account"], name="wallet_entry_one_per_account"),
            models.UniqueConstraint(
                fields=["account", "account_version"],
                condition=Q(account_version__isnull=False),
                name="wallet_entry_version_unique",
            ),
        ]
        indexes = [models.Index(fields=["account", "-id"], name="wallet_entry_history_idx")]

    def __str__(self) -> str:
        return f"Entry #{self.pk} {self.amount:+d} on account #{self.account_id}"


class HoldStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    CAPTURED = "captured", _("Captured")
    RELEASED = "released", _("Released")
    EXPIRED = "expired", _("Expired")


class Hold(models.Model):
    """Part of a user's available balance set aside, to be captured or released exactly once."""

    account = models.ForeignKey(Account, on_delete=models.PROTECT, related_name="holds", verbose_name=_("account"))
    amount = models.BigIntegerField(verbose_name=_("amount"))
    captured_amount = models.BigIntegerField(default=0, verbose_name=_("captured amount"))
    status = models.CharField(
        max_length=16, choices=HoldStatus.choices, default=HoldStatus.PENDING, verbose_name=_("status")
    )
    kind = models.CharField(max_length=32, choices=TransferKind.choices, verbose_name=_("kind"))
    memo = models.CharField(max_length=255, blank=True, verbose_name=_("memo"))
    idempotency_key = models.CharField(max_length=200, unique=True, verbose_name=_("idempotency key"))
    fingerprint = models.CharField(max_length=64, verbose_name=_("fingerprint"))
    cause_type = models.ForeignKey(
        ContentType, null=True, blank=True, on_delete=models.PROTECT, verbose_name=_("cause type")
    )
    cause_id = models.CharField(max_length=64, blank=True, verbose_name=_("cause id"))
    cause = GenericForeignKey("cause_type", "cause_id")
    expires_at = models.DateTimeField(verbose_name=_("expires at"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    resolved_at = models.DateTimeField(null=True, blank=True, verbose_name=_("resolved at"))

    class Meta:
        verbose_name = _("hold")
        verbose_name_plural = _("holds")
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="wallet_hold_amount_gt_0"),
            models.CheckConstraint(
                condition=Q(captured_amount__gte=0) & Q(captured_amount__lte=F("amount")),
                name="wallet_hold_capture_within_amount",
            ),
            models.CheckConstraint(
                condition=Q(status=HoldStatus.CAPTURED) | Q(captured_amount=0),
                name="wallet_hold_only_captured_has_capture",
            ),
            models.CheckConstraint(
                condition=Q(status=HoldStatus.PENDING, resolved_at__isnull=True)
                | (~Q(status=HoldStatus.PENDING) & Q(resolved_at__isnull=False)),
                name="wallet_hold_resolved_at_matches_status",
            ),
        ]
        indexes = [
            models.Index(
                fields=["expires_at"], condition=Q(status=HoldStatus.PENDING), name="wallet_hold_pending_expiry_idx"
            ),
            models.Index(fields=["cause_type", "cause_id"], name="wallet_hold_cause_idx"),
        ]

    def __str__(self) -> str:
        return f"Hold #{self.pk} {self.amount} ({self.status})"


# Staff adjustments under maker-checker live in `wallet/adjustment_requests.py`, the credit
# categories of a member's balance (paid vs promotional) in `wallet/lots.py`; imported here so
# Django registers their models with the app.
from .adjustment_requests import AdjustmentRequest, AdjustmentStatus  # noqa: E402
from .lots import CreditCategory, CreditLot, LotEntry  # noqa: E402
from .member_holds import MemberHold, MemberHoldAction  # noqa: E402

__all__ = [
    "Account",
    "AdjustmentRequest",
    "AdjustmentStatus",
    "AppendOnlyModel",
    "CreditCategory",
    "CreditLot",
    "Currency",
    "Entry",
    "Hold",
    "HoldStatus",
    "KIND_CATEGORY",
    "KindCategory",
    "LedgerImmutable",
    "LotEntry",
    "MemberHold",
    "MemberHoldAction",
    "SystemAccount",
    "Transfer",
    "TransferKind",
    "kinds_in",
]
