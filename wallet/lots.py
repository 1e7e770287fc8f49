"""Credit categories: which part of a member's balance is paid for and which is promotional.

Paid credits are money owed to the member (deferred revenue); bonus, earned and granted credits
are not, and may expire. Every credit into a user account lands in a *lot* of one category: one
open-ended lot per account and category for credits that never expire, one lot per credit for
those that do. Every change to a lot is a `LotEntry` linked to the transfer that made it, so a
reversal finds what the transfer it undoes took or gave: a refunded spend goes back to the lots it
was drawn from, a reversed credit is taken back from its own category.

Invariants (kept by `wallet.services`, under the account's row lock, and checked by
`audit_ledger`): per user account the lots' `remaining` sum to the balance; each lot's
`remaining` is the sum of its entries; a transfer's lot entries on an account sum to its ledger
entry there. The database refuses a negative lot and an expiring paid lot.
"""

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models
from django.db.models import ExpressionWrapper, Q
from django.utils.translation import gettext_lazy as _

from .models import AppendOnlyModel, TransferKind


class CreditCategory(models.TextChoices):
    PAID = "paid", _("Paid")  # purchases: money owed to the member
    BONUS = "bonus", _("Bonus")  # package and tier bonuses
    EARNED = "earned", _("Earned")  # forum rewards, referrals, bounties won
    GRANTED = "granted", _("Granted")  # staff adjustments, welcome bonus


PROMOTIONAL = (CreditCategory.BONUS, CreditCategory.EARNED, CreditCategory.GRANTED)

# Where a credit comes from decides its category. A source is a transfer kind, or a name a caller
# passes for a credit the kind alone does not describe (a welcome bonus is posted as `bonus` from
# the promotions account, but is granted, and may expire on its own schedule).
SOURCE_CATEGORY: dict[str, CreditCategory] = {
    TransferKind.PURCHASE: CreditCategory.PAID,
    TransferKind.CONVERSION: CreditCategory.PAID,  # old time-based plans members paid for
    TransferKind.BONUS: CreditCategory.BONUS,
    TransferKind.EARN: CreditCategory.EARNED,
    TransferKind.BOUNTY: CreditCategory.EARNED,
    TransferKind.DOWNLOAD: CreditCategory.EARNED,  # a member paid by another member's download
    TransferKind.REDEEM: CreditCategory.EARNED,
    TransferKind.ESCROW: CreditCategory.EARNED,
    TransferKind.ADJUSTMENT: CreditCategory.GRANTED,
    # Credits given back without a link to what they undo; linked ones return to their lots.
    TransferKind.REFUND: CreditCategory.GRANTED,
    TransferKind.REVERSAL: CreditCategory.GRANTED,
    TransferKind.EXPIRY: CreditCategory.GRANTED,
    "welcome": CreditCategory.GRANTED,
    "referral": CreditCategory.EARNED,
}


def source_category(source: str) -> CreditCategory:
    try:
        return SOURCE_CATEGORY[source]
    except KeyError:
        raise ValueError(f"Unknown credit source {source!r}.") from None


def expiry_days(source: str) -> int | None:
    """Days until credits from `source` expire (settings.GOLDBOOK_CREDIT_EXPIRY_DAYS), or None."""
    days = settings.GOLDBOOK_CREDIT_EXPIRY_DAYS.get(source)
    if days is None:
        return None
    if source_category(source) == CreditCategory.PAID:
        raise ImproperlyConfigured(f"GOLDBOOK_CREDIT_EXPIRY_DAYS: paid credits ({source}) never expire.")
    return int(days)


def spend_rank() -> dict[str, int]:
    """Category → position in settings.GOLDBOOK_CREDIT_SPEND_ORDER (a permutation of the four)."""
    order = list(settings.GOLDBOOK_CREDIT_SPEND_ORDER)
    if sorted(order) != sorted(CreditCategory.values):
        raise ImproperlyConfigured(f"GOLDBOOK_CREDIT_SPEND_ORDER must name each of {CreditCategory.values} once.")
    return {category: i for i, category in enumerate(order)}


class CreditLot(models.Model):
    """Credits of one category on one user account; `remaining` changes only under the
    account's row lock, always together with an entry below."""

    account = models.ForeignKey(
        "wallet.Account", on_delete=models.PROTECT, related_name="credit_lots", verbose_name=_("account")
    )
    category = models.CharField(max_length=16, choices=CreditCategory.choices, verbose_name=_("category"))
    remaining = models.BigIntegerField(default=0, verbose_name=_("remaining"))
    # Whether credits are left, kept by the database. The partial indexes filter on it rather
    # than on `remaining` so that a spend or a credit, which changes `remaining` but not this
    # (unless the lot empties or refills), is a HOT update: no new index entries. With
    # `remaining` in the predicates every change of a busy account's lot added a row version to
    # every index, and each draw walked them all (one hot account: 7,000 index entries for its
    # one live lot after 15 s of bench/ledger.py).
    live = models.GeneratedField(
        expression=ExpressionWrapper(Q(remaining__gt=0), output_field=models.BooleanField()),
        output_field=models.BooleanField(),
        db_persist=True,
        verbose_name=_("has credits left"),
    )
    expires_at = models.DateTimeField(null=True, blank=True, verbose_name=_("expires at"))
    # The credit that opened an expiring lot (open-ended lots collect many credits: none).
    source_transfer = models.OneToOneField(
        "wallet.Transfer",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("source transfer"),
    )
    # When the member was told these credits expire soon (the CREDITS_EXPIRING event): once.
    announced_at = models.DateTimeField(null=True, blank=True, verbose_name=_("announced at"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("credit lot")
        verbose_name_plural = _("credit lots")
        constraints = [
            models.CheckConstraint(condition=Q(remaining__gte=0), name="wallet_creditlot_remaining_gte_0"),
            models.CheckConstraint(
                condition=~Q(category=CreditCategory.PAID) | Q(expires_at__isnull=True),
                name="wallet_creditlot_paid_never_expires",
            ),
            models.CheckConstraint(
                condition=Q(category__in=CreditCategory.values), name="wallet_creditlot_category_known"
            ),
            models.UniqueConstraint(
                fields=["account", "category"],
                condition=Q(expires_at__isnull=True),
                name="wallet_creditlot_one_open_per_category",
            ),
        ]
        indexes = [
            models.Index(fields=["account"], condition=Q(live=True), name="wallet_creditlot_live_idx"),
            models.Index(fields=["expires_at"], condition=Q(live=True), name="wallet_creditlot_expiry_idx"),
        ]

    def __str__(self) -> str:
        until = f" until {self.expires_at:%Y-%m-%d}" if self.expires_at else ""
        return f"Lot #{self.pk} {self.category} {self.remaining}{until}"


class LotEntry(AppendOnlyModel):
    """One change to a lot: + credited, − drawn. `transfer` is null only for the opening balance
    the one-off categorisation of existing balances wrote (migration 0006)."""

    # Searched through wallet_lotentry_lot_idx (lot, -id) and wallet_lotentry_one_per_lot
    # (transfer, lot): no single-column index of their own (written on every transfer for nothing).
    lot = models.ForeignKey(
        CreditLot, on_delete=models.PROTECT, related_name="entries", db_index=False, verbose_name=_("lot")
    )
    transfer = models.ForeignKey(
        "wallet.Transfer",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        verbose_name=_("transfer"),
    )
    amount = models.BigIntegerField(verbose_name=_("amount"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("lot entry")
        verbose_name_plural = _("lot entries")
        constraints = [
            models.CheckConstraint(condition=~Q(amount=0), name="wallet_lotentry_amount_nonzero"),
            models.UniqueConstraint(fields=["transfer", "lot"], name="wallet_lotentry_one_per_lot"),
        ]
        indexes = [models.Index(fields=["lot", "-id"], name="wallet_lotentry_lot_idx")]

    def __str__(self) -> str:
        return f"Lot entry #{self.pk} {self.amount:+d} on lot #{self.pk}"
