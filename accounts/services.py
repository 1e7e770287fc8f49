"""Writes for accounts: registration, PIN checks with brute-force protection, PIN changes and
recovery, API sessions and signing out elsewhere.

Every PIN check, from the web (allauth, the admin, through `accounts.backends.PinBackend`) or
from the API, goes through `pin_check`, so one set of counters protects both.
"""

import hashlib
import logging
import secrets
from datetime import timedelta
from functools import cache

from django.conf import settings
from django.contrib.auth.hashers import check_password, get_hasher, make_password
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.db.models import F
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext, ngettext

from core import live
from core.events import Event, record

from . import throttle
from .models import ApiSession, KnownAddress, User
from .validators import validate_new_pin

logger = logging.getLogger(__name__)

API_SESSION_TTL = timedelta(days=30)
# Sliding expiry without a write on every request: refresh at most once a minute.
API_SESSION_TOUCH_EVERY = timedelta(seconds=60)
TOKEN_PREFIX = "usr_"


# --- errors -----------------------------------------------------------------------------------


class PinCheckError(Exception):
    """Base of the ways a sign-in can be refused."""


class InvalidCredentials(PinCheckError):
    """Wrong PIN or unknown email: deliberately the same error for both."""


class PinThrottled(PinCheckError):
    def __init__(self, *, scope: str, retry_after: int) -> None:
        minutes = throttle.minutes(retry_after)
        super().__init__(
            ngettext(
                "Too many wrong PINs. Wait %(minutes)s minute before trying again.",
                "Too many wrong PINs. Wait %(minutes)s minutes before trying again.",
                minutes,
            )
            % {"minutes": minutes}
        )
        self.scope = scope
        self.retry_after = retry_after


class AccountLocked(PinCheckError):
    def __init__(self) -> None:
        super().__init__(
            gettext(
                "This account is locked after too many wrong PINs. Use “Forgot PIN” to get an email "
                "with a link that sets a new PIN and unlocks it."
            )
        )


class EmailTaken(Exception):
    """Registration with an email that already has an account."""


# --- tokens and addresses ---------------------------------------------------------------------


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def client_ip(request: HttpRequest) -> str | None:
    """The client IP as allauth sees it (honours ALLAUTH_TRUSTED_PROXY_COUNT), or None.

    Never raises: allauth refuses (ImproperlyConfigured) when X-Forwarded-For has fewer hops than
    the configured proxies, a client-controlled condition that must not become a 500; the
    connecting address is used then.
    """
    from allauth.core.internal.httpkit import get_client_ip

    try:
        ip = get_client_ip(request)
    except (ImproperlyConfigured, ValueError):
        ip = None
    return ip or request.META.get("REMOTE_ADDR") or None


@cache
def _dummy_hash(algorithm: str) -> str:
    return make_password(secrets.token_hex(8), hasher=algorithm)


def _spend_a_pin_check(pin: str) -> None:
    """What checking a real PIN costs, for an unknown email: no timing difference to measure."""
    check_password(pin, _dummy_hash(get_hasher().algorithm))


# --- registration and PINs --------------------------------------------------------------------


def user_register(*, email: str, pin: str, ip: str | None) -> User:
    """Create a member with their PIN.

    Steps: validate the PIN (format, not a common one); create the user and their allauth
    EmailAddress (unverified); remember the IP so signing in from it is not "a new place".
    Raises ValidationError (PIN), EmailTaken.
    """
    from allauth.account.models import EmailAddress

    validate_new_pin(pin)
    email = User.objects.normalize_email(email).lower()
    try:
        with transaction.atomic():
            if User.objects.filter(email__iexact=email).exists():
                raise EmailTaken(email)
            user = User.objects.create_user(email, pin)
            EmailAddress.objects.create(user=user, email=email, primary=True, verified=False)
            if ip:
                KnownAddress.objects.create(user=user, ip=ip)
    except IntegrityError as exc:  # a concurrent registration of the same email won the race
        raise EmailTaken(email) from exc
    logger.info("User #%s: registered", user.pk)
    member_joined(user_id=user.pk, ip=ip, referral_code=None)
    return user


def member_joined(*, user_id: int, ip: str | None, referral_code: str | None) -> None:
    """Record that a member joined (web and API alike), in the caller's transaction when there is
    one: other apps react through the outbox (rewards attaches the referral link and applies
    forum activity that arrived before the member had an account)."""
    record(Event.MEMBER_JOINED, {"user_id": user_id, "ip": ip, "referral_code": referral_code})


def pin_set(*, user: User, pin: str, keep_session_key: str | None = None) -> tuple[int, int]:
    """Change a member's PIN (signed-in change) and sign them out everywhere else.

    Steps: validate; set the PIN; end every other browser session and revoke every API token (a
    new PIN shuts out whoever had the old one). Returns (web sessions ended, API tokens revoked).
    Raises ValidationError.
    """
    validate_new_pin(pin)
    with transaction.atomic():
        user.set_password(pin)
        user.save(update_fields=["password"])
        ended = sessions_end_others(user=user, keep_session_key=keep_session_key)
    logger.info("User #%s: PIN changed", user.pk)
    return ended


def pin_recover(*, request: HttpRequest | None, user: User, pin: str) -> tuple[int, int]:
    """Set a new PIN through the emailed recovery link and unlock the account.

    Steps: validate; set the PIN; clear the consecutive-failure count and the lock; end every
    other browser session and revoke every API token; forget the per-email failures (the owner
    proved they hold the mailbox). Returns (web sessions ended, API tokens revoked).
    Raises ValidationError.
    """
    validate_new_pin(pin)
    keep = request.session.session_key if request is not None and hasattr(request, "session") else None
    with transaction.atomic():
        user.set_password(pin)
        was_locked = user.locked_at is not None
        user.pin_failures = 0
        user.locked_at = None
        user.save(update_fields=["password", "pin_failures", "locked_at"])
        ended = sessions_end_others(user=user, keep_session_key=keep)
    if request is not None:
        throttle.clear_email(request, user.email)
    logger.info("User #%s: PIN recovered%s", user.pk, " (account unlocked)" if was_locked else "")
    return ended


def pin_check(*, request: HttpRequest, email: str, pin: str) -> User:
    """Check an email and PIN, with the brute-force protection both the web and the API share.

    Steps: refuse (PinThrottled) when the email or the client IP has too many recent failures,
    even for the right PIN; look the user up (an unknown email still costs one bcrypt check and
    counts as a failure, so both answer alike); refuse a locked account (AccountLocked); check
    the PIN. A failure counts against the email and the IP and adds one to the member's
    consecutive failures, locking the account (and emailing them) at the limit. A success gives
    the reservation back, resets the count, and emails the member if the IP is new for them.

    Raises InvalidCredentials, PinThrottled, AccountLocked.
    """
    email = (email or "").strip().lower()
    reservation = throttle.reserve(request, email)
    if isinstance(reservation, throttle.Refusal):
        logger.info("PIN check refused: too many failures for this %s", reservation.scope)
        raise PinThrottled(scope=reservation.scope, retry_after=reservation.retry_after)

    user = User.objects.filter(email__iexact=email).first() if email else None
    if user is None or not user.is_active:
        _spend_a_pin_check(pin)
        raise InvalidCredentials()
    if user.locked_at is not None:
        reservation.release()  # not a PIN check: it does not count
        raise AccountLocked()

    if not user.check_password(pin):
        locked_now = _record_failure(user)
        if locked_now:
            raise AccountLocked()
        raise InvalidCredentials()

    reservation.release()
    _record_success(user, ip=client_ip(request))
    return user


def _record_failure(user: User) -> bool:
    """Add one consecutive failure; returns True when this one locked the account."""
    with transaction.atomic():
        User.objects.filter(pk=user.pk).update(pin_failures=F("pin_failures") + 1)
        failures = User.objects.values_list("pin_failures", flat=True).get(pk=user.pk)
        locked_now = False
        if failures >= settings.GOLDBOOK_PIN_LOCKOUT_AFTER:
            # The conditional update makes "this attempt locked it" true exactly once.
            locked_now = bool(User.objects.filter(pk=user.pk, locked_at__isnull=True).update(locked_at=timezone.now()))
        if locked_now:
            logger.warning("User #%s: locked after %s consecutive failed PIN checks", user.pk, failures)
            record(Event.PIN_LOCKED, {"user_id": user.pk})
    return locked_now


def _record_success(user: User, *, ip: str | None) -> None:
    now = timezone.now()
    if user.pin_failures:
        User.objects.filter(pk=user.pk).update(pin_failures=0)
        user.pin_failures = 0
    if not ip:
        return
    updated = KnownAddress.objects.filter(user=user, ip=ip).update(last_seen_at=now)
    if updated:
        return
    try:
        with transaction.atomic():
            KnownAddress.objects.create(user=user, ip=ip)
            record(Event.NEW_SIGN_IN_ADDRESS, {"user_id": user.pk, "ip": ip})
    except IntegrityError:  # a parallel sign-in from the same IP recorded it first
        return
    logger.info("User #%s: signed in from a new address", user.pk)


# --- API sessions -----------------------------------------------------------------------------


def api_session_create(*, user: User, ip: str | None, user_agent: str) -> tuple[ApiSession, str]:
    """Open an API session; returns it and the raw token, which is never stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = timezone.now()
    session = ApiSession.objects.create(
        user=user,
        token_digest=token_digest(token),
        last_used_at=now,
        expires_at=now + API_SESSION_TTL,
        ip=ip,
        user_agent=user_agent[:255],
    )
    return session, token


def api_session_touch(*, session: ApiSession) -> None:
    now = timezone.now()
    if now - session.last_used_at < API_SESSION_TOUCH_EVERY:
        return
    ApiSession.objects.filter(pk=session.pk, revoked_at__isnull=True).update(
        last_used_at=now, expires_at=now + API_SESSION_TTL
    )


def api_session_revoke(*, session_id: int) -> None:
    with transaction.atomic():
        ApiSession.objects.filter(pk=session_id, revoked_at__isnull=True).update(revoked_at=timezone.now())


def sessions_end_others(*, user: User, keep_session_key: str | None) -> tuple[int, int]:
    """Sign the member out everywhere but here: other web sessions and every API token (on
    request, and after every PIN change or recovery).

    Returns (web sessions ended, API tokens revoked).
    """
    from allauth.usersessions.models import UserSession

    ended: list[str] = []
    for session in UserSession.objects.filter(user_id=user.pk).exclude(session_key=keep_session_key or ""):
        session.end()
        ended.append(session.session_key)
    # Their open pages' sockets close once this commits (best effort, bounded; a socket that
    # misses it forwards nothing anyway: it checks its session before each event, core/live.py).
    transaction.on_commit(lambda: live.sessions_ended(ended))
    revoked = ApiSession.objects.filter(user=user, revoked_at__isnull=True).update(revoked_at=timezone.now())
    logger.info("User #%s: signed out of %s other web sessions and %s API sessions", user.pk, len(ended), revoked)
    return len(ended), revoked


# --- display preferences ----------------------------------------------------------------------

PREFERENCE_FIELDS = ("display_name", "language", "time_zone", "display_currency")


def preferences_update(*, user: User, **values: str) -> list[str]:
    """Save the member's display name, language, time zone and display currency (already
    validated by forms.MemberSettingsForm or the language switcher). Only the given fields are
    written. Returns the names of the fields that changed."""
    unknown = set(values) - set(PREFERENCE_FIELDS)
    if unknown:
        raise ValueError(f"not a preference: {', '.join(sorted(unknown))}")
    changed = [name for name, value in values.items() if getattr(user, name) != value]
    for name in changed:
        setattr(user, name, values[name])
    if changed:
        user.save(update_fields=changed)
        logger.info("User #%s: preferences changed (%s)", user.pk, ", ".join(changed))
    return changed
