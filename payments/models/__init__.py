"""Money coming in: packages and prices, payments, raw provider messages, linked wallets, refunds.

Amounts are integer minor units: USD in cents, credits in the site currency's minor units. The
payment's status only moves forward (see `Payment.TRANSITIONS`); `payments.services` is the only
writer, and it asks `wallet.services` for every credit.
"""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from .rates import ExchangeRate as ExchangeRate  # the app registry finds models here

FEATURED_BADGE = "MOST POPULAR"


class CreditPackage(models.Model):
    """A fixed offer: pay `usd_cents`, get base + bonus credits. Admin-editable."""

    class Style(models.TextChoices):
        CARD = "card", _("Pricing card")
        COIN_PACK = "coin_pack", _("Coin-amount button")

    name = models.CharField(max_length=80, verbose_name=_("name"))
    # Minor units: USD cents and credit minor units (the admin form shows dollars and credits).
    usd_cents = models.BigIntegerField(verbose_name=_("price (USD)"))
    base_credits = models.BigIntegerField(verbose_name=_("base credits"))
    bonus_credits = models.BigIntegerField(default=0, verbose_name=_("bonus credits"))
    price_outside_custom_range = models.BooleanField(
        default=False,
        help_text=_(
            "Tick to sell this package at a price below the smallest or above the largest custom amount "
            "members may buy; otherwise such a price is refused."
        ),
        verbose_name=_("price outside the custom range"),
    )
    badge = models.CharField(
        max_length=40, blank=True, help_text=_('Ribbon text, e.g. "MOST POPULAR".'), verbose_name=_("badge")
    )
    style = models.CharField(max_length=16, choices=Style.choices, default=Style.CARD, verbose_name=_("style"))
    sort_order = models.IntegerField(default=0, verbose_name=_("sort order"))
    active = models.BooleanField(default=True, verbose_name=_("active"))
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("credit package")
        verbose_name_plural = _("credit packages")
        ordering = ["sort_order", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(usd_cents__gt=0), name="payments_package_price_gt_0"),
            models.CheckConstraint(condition=Q(base_credits__gt=0), name="payments_package_base_gt_0"),
            models.CheckConstraint(condition=Q(bonus_credits__gte=0), name="payments_package_bonus_gte_0"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def total_credits(self) -> int:
        return self.base_credits + self.bonus_credits

    @property
    def is_featured(self) -> bool:
        """The recharge page highlights the package staff badged as the most popular."""
        return self.badge == FEATURED_BADGE


class BonusTier(models.Model):
    """Bulk bonus for custom amounts: from `min_usd_cents` on, `percent` extra credits."""

    min_usd_cents = models.BigIntegerField(unique=True, verbose_name=_("from (USD)"))  # cents
    percent = models.DecimalField(max_digits=5, decimal_places=2, verbose_name=_("percent"))
    history = HistoricalRecords()

    class Meta:
        verbose_name = _("bonus tier")
        verbose_name_plural = _("bonus tiers")
        ordering = ["min_usd_cents"]
        constraints = [
            models.CheckConstraint(condition=Q(min_usd_cents__gt=0), name="payments_tier_min_gt_0"),
            models.CheckConstraint(
                condition=Q(percent__gte=0) & Q(percent__lte=500), name="payments_tier_percent_range"
            ),
        ]

    def __str__(self) -> str:
        return f"+{self.percent}% from ${Decimal(self.min_usd_cents) / 100:.2f}"


class Provider(models.TextChoices):
    COINPAYMENTS = "coinpayments", _("CoinPayments")
    E9TH = "e9th", _("E9th stablecoin")
    DEMO = "demo", _("Demo (no real money)")


class PaymentStatus(models.TextChoices):
    PENDING = "pending", _("Waiting for payment")
    CONFIRMING = "confirming", _("Confirming")
    COMPLETED = "completed", _("Completed")
    EXPIRED = "expired", _("Expired")
    UNDERPAID = "underpaid", _("Underpaid")
    NEEDS_REVIEW = "needs_review", _("Needs review")
    FAILED = "failed", _("Failed")
    REFUNDED = "refunded", _("Refunded")


S = PaymentStatus
OPEN_STATUSES = (S.PENDING, S.CONFIRMING, S.UNDERPAID)


class Payment(models.Model):
    """One attempt to buy credits, through one provider."""

    # Forward only. `expired`, `underpaid` and `failed` reopen when funds are proven to have
    # arrived after all (a late payment still credits); `completed` only ever becomes `refunded`.
    TRANSITIONS: dict[str, frozenset[str]] = {
        S.PENDING: frozenset({S.CONFIRMING, S.COMPLETED, S.EXPIRED, S.UNDERPAID, S.NEEDS_REVIEW, S.FAILED}),
        S.CONFIRMING: frozenset({S.COMPLETED, S.EXPIRED, S.UNDERPAID, S.NEEDS_REVIEW, S.FAILED}),
        S.EXPIRED: frozenset({S.CONFIRMING, S.COMPLETED, S.UNDERPAID, S.NEEDS_REVIEW}),
        S.UNDERPAID: frozenset({S.CONFIRMING, S.COMPLETED, S.EXPIRED, S.NEEDS_REVIEW}),
        S.FAILED: frozenset({S.CONFIRMING, S.COMPLETED, S.NEEDS_REVIEW}),
        S.NEEDS_REVIEW: frozenset({S.COMPLETED, S.FAILED}),
        S.COMPLETED: frozenset({S.REFUNDED}),
        S.REFUNDED: frozenset(),
    }

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payments", verbose_name=_("user")
    )
    package = models.ForeignKey(
        CreditPackage, null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("package")
    )
    package_name = models.CharField(
        max_length=80,
        help_text=_("The package's name at purchase, or 'Custom amount'."),
        verbose_name=_("package name"),
    )
    usd_cents = models.BigIntegerField(verbose_name=_("usd cents"))
    base_credits = models.BigIntegerField(verbose_name=_("base credits"))
    bonus_credits = models.BigIntegerField(default=0, verbose_name=_("bonus credits"))
    provider = models.CharField(max_length=16, choices=Provider.choices, verbose_name=_("provider"))
    # CoinPayments txn_id; the chain tx_hash in lower case; demo payments get a random one.
    # NULL until the provider gave one (and for a rejected chain claim, so it reserves nothing).
    reference = models.CharField(max_length=128, null=True, blank=True, verbose_name=_("reference"))
    status = models.CharField(
        max_length=16, choices=PaymentStatus.choices, default=PaymentStatus.PENDING, verbose_name=_("status")
    )
    status_detail = models.CharField(max_length=255, blank=True, verbose_name=_("status detail"))
    # What the buyer sends: the coin and its amount exactly as the provider wrote it.
    coin = models.CharField(max_length=32, blank=True, verbose_name=_("coin"))
    coin_amount = models.CharField(max_length=64, blank=True, verbose_name=_("coin amount"))
    received_amount = models.CharField(max_length=64, blank=True, verbose_name=_("received amount"))
    address = models.CharField(max_length=255, blank=True, verbose_name=_("address"))
    confirms_needed = models.PositiveIntegerField(default=0, verbose_name=_("confirms needed"))
    confirmations = models.PositiveIntegerField(default=0, verbose_name=_("confirmations"))
    checkout_url = models.URLField(max_length=500, blank=True, verbose_name=_("checkout url"))
    status_url = models.URLField(max_length=500, blank=True, verbose_name=_("status url"))
    qrcode_url = models.URLField(max_length=500, blank=True, verbose_name=_("qrcode url"))
    # On-chain deposits: the claimed sender and the block the receipt was seen in.
    wallet_address = models.CharField(max_length=42, blank=True, verbose_name=_("wallet address"))
    block_number = models.BigIntegerField(null=True, blank=True, verbose_name=_("block number"))
    block_hash = models.CharField(max_length=66, blank=True, verbose_name=_("block hash"))
    rejected_reference = models.CharField(max_length=128, blank=True, verbose_name=_("rejected reference"))
    # Credited, but staff should look (issue 11): an overpayment, with what was sent beyond the
    # coin amount asked for (in the coin). The admin lists flagged payments.
    flagged_for_review = models.BooleanField(default=False, verbose_name=_("flagged for review"))
    excess_amount = models.CharField(max_length=64, blank=True, verbose_name=_("excess amount"))
    expires_at = models.DateTimeField(null=True, blank=True, verbose_name=_("expires at"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))
    completed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("completed at"))
    # The client's Idempotency-Key, prefixed by the endpoint ("checkout:", "purchase:"): a retry
    # returns this payment. Released (NULL) when the attempt failed with nothing made, so the
    # same key may try again.
    idempotency_key = models.CharField(max_length=120, null=True, blank=True, verbose_name=_("idempotency key"))

    class Meta:
        verbose_name = _("payment")
        verbose_name_plural = _("payments")
        constraints = [
            models.UniqueConstraint(fields=["provider", "reference"], name="payments_payment_provider_reference_uniq"),
            models.UniqueConstraint(
                fields=["user", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="payments_payment_idempotency_key_uniq",
            ),
            models.CheckConstraint(condition=Q(usd_cents__gt=0), name="payments_payment_usd_gt_0"),
            models.CheckConstraint(condition=Q(base_credits__gt=0), name="payments_payment_base_gt_0"),
            models.CheckConstraint(condition=Q(bonus_credits__gte=0), name="payments_payment_bonus_gte_0"),
            models.CheckConstraint(
                condition=~Q(status=PaymentStatus.COMPLETED) | Q(completed_at__isnull=False),
                name="payments_payment_completed_has_time",
            ),
        ]
        indexes = [
            models.Index(fields=["user", "-created_at"], name="payments_payment_user_idx"),
            models.Index(
                fields=["provider", "status"],
                condition=Q(status__in=["pending", "confirming", "underpaid"]),
                name="payments_payment_open_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"Payment #{self.pk} {self.provider} {self.status}"

    @property
    def usd_amount(self) -> Decimal:
        return Decimal(self.usd_cents).scaleb(-2)

    @property
    def total_credits(self) -> int:
        return self.base_credits + self.bonus_credits

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def is_completed(self) -> bool:
        return self.status == PaymentStatus.COMPLETED

    def can_move_to(self, status: PaymentStatus) -> bool:
        return status in self.TRANSITIONS[self.status]

    def history_fields(self, transfer: object) -> dict[str, object]:
        """Extra fields for this payment's rows in the transaction history (accounts app)."""
        kind = getattr(transfer, "kind", "")
        if kind == "purchase":
            return {"package_name": self.package_name}
        if kind == "bonus":
            # `subject`: the package the bonus came with, for the dashboard's history (portal).
            return {"notes": "Bonus credits for package purchase", "subject": self.package_name}
        return {}


class ProviderMessage(models.Model):
    """Every message a provider sent us (IPN, poll answer, chain receipt), stored raw with the
    result of verifying it, before anything acts on it. Unique per provider message id."""

    class Kind(models.TextChoices):
        IPN = "ipn", "IPN"
        POLL = "poll", _("Poll answer")
        RECEIPT = "receipt", _("Chain receipt")

    provider = models.CharField(max_length=16, choices=Provider.choices, verbose_name=_("provider"))
    # The provider's own id (CoinPayments ipn_id), or a digest of the content. Messages that
    # fail verification get an "unverified:" prefix so a forger can never claim a genuine id.
    message_id = models.CharField(max_length=160, verbose_name=_("message id"))
    kind = models.CharField(max_length=16, choices=Kind.choices, verbose_name=_("kind"))
    payment = models.ForeignKey(
        Payment, null=True, blank=True, on_delete=models.PROTECT, related_name="messages", verbose_name=_("payment")
    )
    body = models.TextField(verbose_name=_("body"))
    headers = models.JSONField(default=dict, blank=True, verbose_name=_("headers"))
    verified = models.BooleanField(default=False, verbose_name=_("verified"))
    verification_error = models.CharField(max_length=255, blank=True, verbose_name=_("verification error"))
    outcome = models.CharField(max_length=255, blank=True, verbose_name=_("outcome"))
    received_at = models.DateTimeField(auto_now_add=True, verbose_name=_("received at"))
    processed_at = models.DateTimeField(null=True, blank=True, verbose_name=_("processed at"))

    class Meta:
        verbose_name = _("provider message")
        verbose_name_plural = _("provider messages")
        constraints = [
            models.UniqueConstraint(fields=["provider", "message_id"], name="payments_message_provider_id_uniq")
        ]
        indexes = [models.Index(fields=["payment", "-id"], name="payments_message_payment_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.message_id[:24]} ({'ok' if self.verified else 'rejected'})"


class LinkedWallet(models.Model):
    """The one E9th wallet a user proved to control (EIP-191 signature). One address, one user."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="e9th_wallet", verbose_name=_("user")
    )
    address = models.CharField(
        max_length=42, unique=True, help_text=_("Lower-case 0x address."), verbose_name=_("address")
    )
    linked_at = models.DateTimeField(auto_now_add=True, verbose_name=_("linked at"))

    class Meta:
        verbose_name = _("linked wallet")
        verbose_name_plural = _("linked wallets")

    def __str__(self) -> str:
        return f"{self.address} → {self.user_id}"


class WalletChallenge(models.Model):
    """A one-time message with a nonce the user signs to link a wallet."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", verbose_name=_("user")
    )
    nonce = models.CharField(max_length=64, unique=True, verbose_name=_("nonce"))
    message = models.TextField(verbose_name=_("message"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    expires_at = models.DateTimeField(verbose_name=_("expires at"))
    used_at = models.DateTimeField(null=True, blank=True, verbose_name=_("used at"))

    class Meta:
        verbose_name = _("wallet challenge")
        verbose_name_plural = _("wallet challenges")

    def __str__(self) -> str:
        return f"Challenge {self.nonce[:8]} for {self.user_id}"


class RefundStatus(models.TextChoices):
    REQUESTED = "requested", _("Awaiting approval")
    APPROVED = "approved", _("Approved and reversed")
    REJECTED = "rejected", _("Rejected")


class RefundRequest(models.Model):
    """Maker-checker refund of a completed payment: one staff member asks, another approves."""

    payment = models.ForeignKey(
        Payment, on_delete=models.PROTECT, related_name="refund_requests", verbose_name=_("payment")
    )
    reason = models.TextField(verbose_name=_("reason"))
    status = models.CharField(
        max_length=16, choices=RefundStatus.choices, default=RefundStatus.REQUESTED, verbose_name=_("status")
    )
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("requested by")
    )
    requested_at = models.DateTimeField(auto_now_add=True, verbose_name=_("requested at"))
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name=_("decided by"),
    )
    decided_at = models.DateTimeField(null=True, blank=True, verbose_name=_("decided at"))
    decision_note = models.CharField(max_length=255, blank=True, verbose_name=_("decision note"))

    class Meta:
        verbose_name = _("refund request")
        verbose_name_plural = _("refund requests")
        permissions = [
            ("request_refund", "Can request a payment refund"),
            ("approve_refund", "Can approve or reject a payment refund"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(decided_by__isnull=True) | ~Q(decided_by=F("requested_by")),
                name="payments_refund_four_eyes",
            ),
            models.UniqueConstraint(
                fields=["payment"], condition=Q(status="requested"), name="payments_refund_one_open_per_payment"
            ),
        ]

    def __str__(self) -> str:
        return f"Refund #{self.pk} of payment #{self.payment_id} ({self.status})"


class LegacyConversion(models.Model):
    """One holder of an old time-based plan converted to credits (`convert_legacy_plans`)."""

    row_key = models.CharField(max_length=200, unique=True, verbose_name=_("row key"))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", verbose_name=_("user")
    )
    plan = models.CharField(max_length=32, verbose_name=_("plan"))
    credits = models.BigIntegerField(verbose_name=_("credits"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("legacy conversion")
        verbose_name_plural = _("legacy conversions")

    def __str__(self) -> str:
        return f"{self.plan} → {self.credits} for {self.user_id}"

    def history_fields(self, transfer: object) -> dict[str, object]:
        return {"notes": f"Converted from the {self.plan} plan"}
