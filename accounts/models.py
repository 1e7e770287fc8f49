from typing import ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create_user(self, email: str, password: str | None, **extra: object) -> "User":
        if not email:
            raise ValueError(gettext("An email address is required."))
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: object) -> "User":
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: object) -> "User":
        extra["is_staff"] = True
        extra["is_superuser"] = True
        return self._create_user(email, password, **extra)

    def get_by_natural_key(self, username: str | None) -> "User":
        return self.get(email__iexact=username or "")


class User(AbstractBaseUser, PermissionsMixin):
    """A member, identified only by email. The "password" is the member's PIN."""

    email = models.EmailField(_("email address"), unique=True)
    display_name = models.CharField(_("display name"), max_length=80, blank=True)
    is_staff = models.BooleanField(_("staff"), default=False)
    is_active = models.BooleanField(_("active"), default=True)
    date_joined = models.DateTimeField(_("joined"), default=timezone.now)
    # Consecutive failed PIN checks across rate-limit windows; a successful check resets it.
    # Kept in the database (not the cache) so a cache flush never unlocks anyone.
    pin_failures = models.PositiveIntegerField(_("failed PINs in a row"), default=0)
    # Set when `pin_failures` reaches GOLDBOOK_PIN_LOCKOUT_AFTER; cleared only by PIN recovery.
    locked_at = models.DateTimeField(_("locked at"), null=True, blank=True)
    # Display preferences (issue 12). Blank language/time zone: follow the browser's
    # Accept-Language and the site's GOLDBOOK_DEFAULT_TIME_ZONE. Amounts paid are stored in USD;
    # the display currency only changes how they are shown beside it.
    language = models.CharField(_("language"), max_length=16, blank=True, choices=settings.LANGUAGES)
    time_zone = models.CharField(_("time zone"), max_length=64, blank=True)
    display_currency = models.CharField(
        _("display currency"),
        max_length=3,
        default="USD",
        choices=[(c, c) for c in settings.GOLDBOOK_DISPLAY_CURRENCIES],
    )

    objects = UserManager()

    EMAIL_FIELD = "email"
    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []

    class Meta:
        verbose_name = _("member")
        verbose_name_plural = _("members")
        constraints = [
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
        ]

    def __str__(self) -> str:
        return self.email

    @property
    def is_locked(self) -> bool:
        return self.locked_at is not None

    @property
    def public_name(self) -> str:
        """What other members see (leaderboards, bounties, referral pages, "Shared by"): the name
        the member chose, else a neutral "Member #<id>", never a part of the email address."""
        return (self.display_name or "").strip() or gettext("Member #%(id)s") % {"id": self.pk}


class ApiSession(models.Model):
    """A token-authenticated API session. Only the SHA-256 digest of the token is stored."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_sessions", verbose_name=_("user"))
    token_digest = models.CharField(max_length=64, unique=True, verbose_name=_("token digest"))
    created_at = models.DateTimeField(auto_now_add=True, verbose_name=_("created at"))
    last_used_at = models.DateTimeField(verbose_name=_("last used at"))
    expires_at = models.DateTimeField(verbose_name=_("expires at"))
    revoked_at = models.DateTimeField(null=True, blank=True, verbose_name=_("revoked at"))
    ip = models.GenericIPAddressField(null=True, blank=True, verbose_name=_("ip"))
    user_agent = models.CharField(max_length=255, blank=True, verbose_name=_("user agent"))

    class Meta:
        verbose_name = _("api session")
        verbose_name_plural = _("api sessions")
        indexes = [models.Index(fields=["user", "-created_at"], name="accounts_apisession_user_idx")]

    def __str__(self) -> str:
        return f"API session #{self.pk} of {self.user_id}"


class KnownAddress(models.Model):
    """A client IP a member has signed in from; a sign-in from a new one is emailed to them."""

    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="known_addresses", verbose_name=_("user"))
    ip = models.GenericIPAddressField(verbose_name=_("ip"))
    first_seen_at = models.DateTimeField(auto_now_add=True, verbose_name=_("first seen at"))
    last_seen_at = models.DateTimeField(auto_now_add=True, verbose_name=_("last seen at"))

    class Meta:
        verbose_name = _("known address")
        verbose_name_plural = _("known addresses")
        constraints = [models.UniqueConstraint(fields=["user", "ip"], name="accounts_knownaddress_user_ip_unique")]

    def __str__(self) -> str:
        return f"{self.ip} for user #{self.user_id}"


# Staff decisions on the fraud review queue (issue 13), imported so Django registers the model.
from .signal_reviews import SignalDecision, SignalReview  # noqa: E402

__all__ = ["ApiSession", "KnownAddress", "SignalDecision", "SignalReview", "User", "UserManager"]
