"""What members spend on: catalog items, download jobs, download records, unlocks, free tier.

Money is in minor units of the site currency (BigIntegerField). Balances move only through
`wallet.services`; these tables record what was bought and delivered, and point at the hold or
transfer that paid for it.
"""

import uuid
from decimal import Decimal
from pathlib import PurePosixPath

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.files.storage import Storage, storages
from django.db import models
from django.db.models import F, Q
from django.utils.text import get_valid_filename
from django.utils.translation import gettext_lazy as _

from .allowances import AdCompletion as AdCompletion  # the app registry finds models here
from .allowances import FreeAllowance as FreeAllowance


def item_storage() -> Storage:
    """Item files and archives: the configured alias (local MEDIA_ROOT by default; never routed)."""
    return storages[settings.DOWNLOADS_STORAGE_ALIAS]


def song_price_minor() -> int:
    """The song-price setting in minor units (the site currency has GOLDBOOK_CURRENCY_DECIMALS)."""
    return int(Decimal(settings.GOLDBOOK_SONG_PRICE).scaleb(settings.GOLDBOOK_CURRENCY_DECIMALS))


def _private_name(folder: str, filename: str) -> str:
    # A random directory per file: even if MEDIA_ROOT were ever exposed, the name is unguessable.
    safe = get_valid_filename(PurePosixPath(filename).name)[-100:] or "file"
    return f"downloads/{folder}/{uuid.uuid4().hex}/{safe}"


def item_upload_to(instance: "Item", filename: str) -> str:
    return _private_name(instance.kind or "item", filename)


def report_upload_to(instance: "Item", filename: str) -> str:
    return _private_name("reports", filename)


class ItemKind(models.TextChoices):
    SONG = "song", _("Song")
    EA = "ea", _("Expert advisor")
    PREMIUM = "premium", _("Premium content")


class PricingMode(models.TextChoices):
    METERED = "metered", _("Pay per download")
    UNLOCK = "unlock", _("Pay once, download again free")


class Verification(models.TextChoices):
    NOT_REQUIRED = "not_required", _("Not required")
    PENDING = "pending", _("Awaiting review")
    VERIFIED = "verified", _("Verified")
    REJECTED = "rejected", _("Rejected")


class Platform(models.TextChoices):
    MT4 = "MT4", "MetaTrader 4"
    MT5 = "MT5", "MetaTrader 5"


class Timeframe(models.TextChoices):
    M1 = "M1", "M1"
    M5 = "M5", "M5"
    M15 = "M15", "M15"
    M30 = "M30", "M30"
    H1 = "H1", "H1"
    H4 = "H4", "H4"
    D1 = "D1", "D1"
    W1 = "W1", "W1"
    MN1 = "MN1", "MN1"


class Item(models.Model):
    slug = models.SlugField(max_length=120, unique=True, verbose_name=_("slug"))
    title = models.CharField(max_length=200, verbose_name=_("title"))
    description = models.TextField(blank=True, verbose_name=_("description"))
    kind = models.CharField(max_length=16, choices=ItemKind.choices, default=ItemKind.SONG, verbose_name=_("kind"))
    file = models.FileField(upload_to=item_upload_to, storage=item_storage, max_length=255, verbose_name=_("file"))
    size = models.BigIntegerField(default=0, verbose_name=_("size"))
    sha256 = models.CharField(max_length=64, blank=True, verbose_name=_("sha256"))
    # Minor units of the site currency. Songs default to GOLDBOOK_SONG_PRICE.
    price = models.BigIntegerField(default=song_price_minor, verbose_name=_("price"))
    pricing_mode = models.CharField(
        max_length=16, choices=PricingMode.choices, default=PricingMode.METERED, verbose_name=_("pricing mode")
    )
    is_active = models.BooleanField(default=True, verbose_name=_("is active"))
    uploader = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="uploaded_items",
        verbose_name=_("uploader"),
    )
    # Premium content only members of this group may download (rewards grant the membership).
    access_group = models.ForeignKey(
        Group,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="download_items",
        verbose_name=_("access group"),
    )
    # Expert advisors: the performance data the forum asks for.
    platform = models.CharField(max_length=8, choices=Platform.choices, blank=True, verbose_name=_("platform"))
    symbol = models.CharField(max_length=16, blank=True, verbose_name=_("symbol"))
    timeframe = models.CharField(max_length=4, choices=Timeframe.choices, blank=True, verbose_name=_("timeframe"))
    backtest_start = models.DateField(null=True, blank=True, verbose_name=_("backtest start"))
    backtest_end = models.DateField(null=True, blank=True, verbose_name=_("backtest end"))
    profit_factor = models.DecimalField(
        max_digits=6, decimal_places=2, null=True, blank=True, verbose_name=_("profit factor")
    )
    max_drawdown_pct = models.DecimalField(_("max drawdown (%)"), max_digits=5, decimal_places=2, null=True, blank=True)
    report_file = models.FileField(
        upload_to=report_upload_to, storage=item_storage, max_length=255, blank=True, verbose_name=_("report file")
    )
    verification = models.CharField(
        max_length=16, choices=Verification.choices, default=Verification.NOT_REQUIRED, verbose_name=_("verification")
    )
    verified_at = models.DateTimeField(null=True, blank=True, verbose_name=_("verified at"))
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("verified by"),
    )
    verification_note = models.CharField(max_length=255, blank=True, verbose_name=_("verification note"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    updated_at = models.DateTimeField(auto_now=True, verbose_name=_("updated at"))

    class Meta:
        verbose_name = _("item")
        verbose_name_plural = _("items")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(price__gte=0), name="downloads_item_price_gte_0"),
            models.CheckConstraint(condition=Q(size__gte=0), name="downloads_item_size_gte_0"),
            models.CheckConstraint(
                condition=Q(kind=ItemKind.EA) | Q(verification=Verification.NOT_REQUIRED),
                name="downloads_item_only_ea_verified",
            ),
        ]
        indexes = [models.Index(fields=["kind", "is_active", "-created_at"], name="downloads_item_catalog_idx")]

    def __str__(self) -> str:
        return self.title

    @property
    def is_song(self) -> bool:
        return self.kind == ItemKind.SONG

    @property
    def is_ea(self) -> bool:
        return self.kind == ItemKind.EA

    @property
    def is_unlock(self) -> bool:
        """Paid once, then downloaded again for free (else metered: paid on every download)."""
        return self.pricing_mode == PricingMode.UNLOCK

    @property
    def is_verified(self) -> bool:
        return self.verification == Verification.VERIFIED

    @property
    def is_rejected(self) -> bool:
        return self.verification == Verification.REJECTED

    @property
    def is_listed(self) -> bool:
        """In the public catalog: active, and for EAs verified by staff."""
        return self.is_active and (not self.is_ea or self.is_verified)


class JobStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    COMPLETED = "completed", _("Completed")
    FAILED = "failed", _("Failed")


class DownloadJob(models.Model):
    """A multi-song download, paid in two phases: a hold at start, a capture for what was delivered.

    States: queued → running → completed | failed; running → queued when its worker died. Completing
    (records, capture, status) is one transaction under this row's lock, and the capture is keyed
    by the hold, so a retried task never charges twice.
    """

    public_id = models.CharField(max_length=40, unique=True, verbose_name=_("public id"))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="download_jobs", verbose_name=_("user")
    )
    status = models.CharField(
        max_length=16, choices=JobStatus.choices, default=JobStatus.QUEUED, verbose_name=_("status")
    )
    requested_songs = models.PositiveIntegerField(verbose_name=_("requested songs"))
    # Free-tier downloads spent on this job; they cover the first songs delivered.
    free_songs = models.PositiveIntegerField(default=0, verbose_name=_("free songs"))
    unit_price = models.BigIntegerField(verbose_name=_("unit price"))
    hold = models.OneToOneField(
        "wallet.Hold",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="download_job",
        verbose_name=_("hold"),
    )
    progress_done = models.PositiveIntegerField(default=0, verbose_name=_("progress done"))
    delivered_songs = models.PositiveIntegerField(default=0, verbose_name=_("delivered songs"))
    credits_charged = models.BigIntegerField(default=0, verbose_name=_("credits charged"))
    archive_name = models.CharField(max_length=255, blank=True, verbose_name=_("archive name"))
    archive_size = models.BigIntegerField(default=0, verbose_name=_("archive size"))
    error = models.CharField(max_length=255, blank=True, verbose_name=_("error"))
    # Runs begun. The current run's number is its fencing token: only the run whose number is
    # still the job's may renew the lease or complete the job (downloads/services/job_lease.py).
    attempts = models.PositiveIntegerField(default=0, verbose_name=_("attempts"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    started_at = models.DateTimeField(null=True, blank=True, verbose_name=_("started at"))
    finished_at = models.DateTimeField(null=True, blank=True, verbose_name=_("finished at"))
    # No run begins after this (creation + hold TTL - job time limit), so every run, bounded by
    # the time limit, ends before the hold expires.
    deadline_at = models.DateTimeField(verbose_name=_("deadline at"))
    # The client's Idempotency-Key (unique per member) and a digest of what it asked for: a
    # retry returns this job, a different request under the same key is refused.
    idempotency_key = models.CharField(max_length=100, null=True, blank=True, verbose_name=_("idempotency key"))
    request_digest = models.CharField(max_length=64, blank=True, verbose_name=_("request digest"))
    # What the start answered, kept so a retried start answers the same.
    available_at_start = models.BigIntegerField(default=0, verbose_name=_("available at start"))
    # Running: the run is presumed alive until then (it renews this as it packs songs). Queued:
    # a run was queued and should have begun by then. Once it passes, the sweep queues it again.
    lease_until = models.DateTimeField(null=True, blank=True, verbose_name=_("lease until"))

    class Meta:
        verbose_name = _("download job")
        verbose_name_plural = _("download jobs")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "idempotency_key"],
                condition=Q(idempotency_key__isnull=False),
                name="downloads_job_idempotency_key_uniq",
            ),
            models.CheckConstraint(condition=Q(requested_songs__gte=1), name="downloads_job_requested_gte_1"),
            models.CheckConstraint(
                condition=Q(free_songs__lte=F("requested_songs")), name="downloads_job_free_within_requested"
            ),
            models.CheckConstraint(
                condition=Q(delivered_songs__lte=F("requested_songs")), name="downloads_job_delivered_within_requested"
            ),
            models.CheckConstraint(
                condition=Q(progress_done__lte=F("requested_songs")), name="downloads_job_progress_within_requested"
            ),
            models.CheckConstraint(condition=Q(credits_charged__gte=0), name="downloads_job_charged_gte_0"),
            models.CheckConstraint(condition=Q(unit_price__gte=0), name="downloads_job_unit_price_gte_0"),
        ]
        indexes = [
            models.Index(
                fields=["deadline_at"],
                condition=Q(status__in=["queued", "running"]),
                name="downloads_job_open_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.public_id

    @property
    def is_completed(self) -> bool:
        return self.status == JobStatus.COMPLETED

    @property
    def is_failed(self) -> bool:
        return self.status == JobStatus.FAILED

    @property
    def is_finished(self) -> bool:
        return self.status in (JobStatus.COMPLETED, JobStatus.FAILED)

    @property
    def paid_songs(self) -> int:
        return self.requested_songs - self.free_songs

    def history_fields(self, transfer: object) -> dict[str, object]:
        """Extra fields for this job's capture row in transaction history."""
        return {"songs_downloaded": self.delivered_songs}


class DownloadJobItem(models.Model):
    job = models.ForeignKey(DownloadJob, on_delete=models.CASCADE, related_name="job_items", verbose_name=_("job"))
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="+", verbose_name=_("item"))
    position = models.PositiveIntegerField(verbose_name=_("position"))

    class Meta:
        verbose_name = _("download job item")
        verbose_name_plural = _("download job items")
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["job", "item"], name="downloads_jobitem_unique"),
            models.UniqueConstraint(fields=["job", "position"], name="downloads_jobitem_position_unique"),
        ]

    def __str__(self) -> str:
        return f"Item #{self.item_id} at {self.position} in job #{self.job_id}"


class RecordSource(models.TextChoices):
    JOB = "job", _("Download job")
    METERED = "metered", _("Pay per download")
    UNLOCK = "unlock", _("Unlock")
    FREE = "free", _("Free item")


class DownloadRecord(models.Model):
    """One delivered item for one user (free downloads included): the download history."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="download_records", verbose_name=_("user")
    )
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="records", verbose_name=_("item"))
    source = models.CharField(max_length=16, choices=RecordSource.choices, verbose_name=_("source"))
    job = models.ForeignKey(
        DownloadJob, null=True, blank=True, on_delete=models.PROTECT, related_name="records", verbose_name=_("job")
    )
    transfer = models.ForeignKey(
        "wallet.Transfer", null=True, blank=True, on_delete=models.PROTECT, related_name="+", verbose_name=_("transfer")
    )
    charged = models.BigIntegerField(default=0, verbose_name=_("charged"))
    free_tier = models.BooleanField(default=False, verbose_name=_("free tier"))
    # Single-item purchases: the client's (or derived) key, so a retried request charges once.
    idempotency_key = models.CharField(
        max_length=200, null=True, blank=True, unique=True, verbose_name=_("idempotency key")
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("download record")
        verbose_name_plural = _("download records")
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(charged__gte=0), name="downloads_record_charged_gte_0"),
            models.UniqueConstraint(
                fields=["job", "item"], condition=Q(job__isnull=False), name="downloads_record_once_per_job_item"
            ),
        ]
        indexes = [models.Index(fields=["user", "-created_at"], name="downloads_record_user_idx")]

    def __str__(self) -> str:
        return f"Download #{self.pk} of item #{self.item_id} by #{self.user_id}"

    def history_fields(self, transfer: object) -> dict[str, object]:
        # `subject`: what the member got, for the dashboard's history (portal).
        return {"songs_downloaded": 1 if self.item.kind == ItemKind.SONG else 0, "subject": self.item.title}


class Unlock(models.Model):
    """Paid once: the user may download the item again for free, forever."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="unlocks", verbose_name=_("user")
    )
    item = models.ForeignKey(Item, on_delete=models.PROTECT, related_name="unlocks", verbose_name=_("item"))
    record = models.OneToOneField(
        DownloadRecord, on_delete=models.PROTECT, related_name="unlock", verbose_name=_("record")
    )
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))

    class Meta:
        verbose_name = _("unlock")
        verbose_name_plural = _("unlocks")
        constraints = [models.UniqueConstraint(fields=["user", "item"], name="downloads_unlock_once")]

    def __str__(self) -> str:
        return f"Unlock of item #{self.item_id} by #{self.user_id}"
