"""Counting failed PIN checks, per email and per client IP, for the web and the API alike.

Built on allauth's rate limiter (`allauth.core.internal.ratelimit`): a sliding log of timestamps
per key in the shared cache (Redis when REDIS_URL is set, so the state survives a restart and is
shared by every worker), updated under a cache lock. An attempt *reserves* a slot before the PIN
is checked and gives it back when the PIN turns out right, so:

- parallel guesses cannot overshoot the limit (each one holds a slot while bcrypt runs);
- only failed checks count: a success rolls its reservation back, a refused (throttled) attempt
  never reserves anything.

allauth's `consume()` does not roll back an earlier rate when a later one refuses, and does not
say when the limit lifts, hence the two separate actions and `retry_after()` below.

When the cache cannot be reached (Redis down, or hung past GOLDBOOK_REDIS_TIMEOUT), counting fails
closed: `reserve`, `peek` and `registration` raise `CountersUnavailable` (503 with Retry-After),
since checking PINs without counters would let anyone guess them. Giving a slot back and
clearing counters fail quietly instead: skipping them only makes the limit stricter.
"""

import logging
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from allauth.core.internal import ratelimit
from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from redis.exceptions import RedisError

from core.errors import GoldbookError

logger = logging.getLogger(__name__)

APP = "accounts"
EMAIL_ACTION = "pin_failed_email"
IP_ACTION = "pin_failed_ip"


# What the cache raises when Redis is down or does not answer in time (redis-py wraps socket
# errors and timeouts in these).
CACHE_ERRORS: tuple[type[Exception], ...] = (RedisError,)


class CountersUnavailable(GoldbookError):
    """The attempt counters cannot be read: sign-in and registration are refused for now."""

    status = 503
    code = "unavailable"
    default_message = _(
        "Signing in and creating accounts are paused for a moment while we fix a problem on our side. "
        "Your account and your balance are safe. Try again in a minute."
    )

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message, retry_after=settings.GOLDBOOK_REDIS_RETRY_AFTER)

    @property
    def retry_after(self) -> int:
        return int(self.extra["retry_after"])


@contextmanager
def _counting(what: str) -> Iterator[None]:
    """Fail closed: a cache error becomes CountersUnavailable."""
    try:
        yield
    except CACHE_ERRORS as exc:
        logger.warning("Throttle: %s refused, the counters cannot be reached: %s", what, exc)
        raise CountersUnavailable() from exc


def _config() -> dict[str, str]:
    return {
        EMAIL_ACTION: f"{settings.GOLDBOOK_PIN_FAILURES_PER_EMAIL}/key",
        IP_ACTION: f"{settings.GOLDBOOK_PIN_FAILURES_PER_IP}/ip",
    }


def _key(email: str) -> str:
    return email.strip().lower()


@dataclass
class Reservation:
    """One attempt's slots; `release()` when the PIN was right (successes do not count)."""

    usages: list[ratelimit.RateLimitUsage]

    def release(self) -> None:
        try:
            for usage in self.usages:
                usage.rollback()
        except CACHE_ERRORS as exc:  # fallback: the slot stays taken (stricter, never looser)
            logger.warning("Throttle: could not give a slot back: %s", exc)


@dataclass(frozen=True)
class Refusal:
    scope: str  # "email" or "ip"
    retry_after: int  # seconds until one more attempt is allowed


def _retry_after(
    request: HttpRequest, action: str, email: str, *, app: str = APP, config: dict[str, str] | None = None
) -> int:
    config = config if config is not None else _config()
    longest = 1
    for rate in ratelimit.get_rates(app=app, action=action, config=config):
        cache_key = ratelimit.get_cache_key(request, app=app, action=action, rate=rate, key=_key(email))
        history: list[float] = cache.get(cache_key, [])  # newest first
        now = time.time()
        live = [ts for ts in history if ts > now - rate.duration]
        if len(live) >= rate.amount:
            # The limit lifts when the amount-th newest failure leaves the window.
            longest = max(longest, math.ceil(live[rate.amount - 1] + rate.duration - now))
    return longest


def reserve(request: HttpRequest, email: str) -> Reservation | Refusal:
    """Take a slot for one PIN check, or say why and for how long it is refused.
    Raises CountersUnavailable when the cache cannot be reached."""
    with _counting("PIN check"):
        return _reserve(request, email)


def _reserve(request: HttpRequest, email: str) -> Reservation | Refusal:
    config = _config()
    taken: list[ratelimit.RateLimitUsage] = []
    for action, scope in ((EMAIL_ACTION, "email"), (IP_ACTION, "ip")):
        usage = ratelimit.consume(request, app=APP, action=action, config=config, key=_key(email))
        if usage is None:
            Reservation(taken).release()
            return Refusal(scope=scope, retry_after=_retry_after(request, action, email))
        taken.append(usage)
    return Reservation(taken)


def peek(request: HttpRequest, email: str) -> Refusal | None:
    """Whether an attempt would be refused now, without taking a slot.
    Raises CountersUnavailable when the cache cannot be reached."""
    config = _config()
    with _counting("PIN check"):
        for action, scope in ((EMAIL_ACTION, "email"), (IP_ACTION, "ip")):
            if ratelimit.consume(request, app=APP, action=action, config=config, key=_key(email), dry_run=True) is None:
                return Refusal(scope=scope, retry_after=_retry_after(request, action, email))
    return None


def tries_left(request: HttpRequest, email: str) -> int | None:
    """How many more failed PIN checks this email (and this client IP) may have before checks
    pause, or None when the counters cannot be read. Counted per email key whether or not an
    account uses it (as `reserve` counts), so the number says nothing about whether one does."""
    config = _config()
    now = time.time()
    left: list[int] = []
    try:
        for action in (EMAIL_ACTION, IP_ACTION):
            for rate in ratelimit.get_rates(app=APP, action=action, config=config):
                cache_key = ratelimit.get_cache_key(request, app=APP, action=action, rate=rate, key=_key(email))
                history: list[float] = cache.get(cache_key, [])
                left.append(rate.amount - sum(1 for ts in history if ts > now - rate.duration))
    except CACHE_ERRORS as exc:
        logger.warning("Throttle: could not count the tries left: %s", exc)
        return None
    return max(0, min(left)) if left else None


def tries_left_text(request: HttpRequest, email: str) -> str:
    """ "N tries left before …" for a refused sign-in, or "" when the counters cannot be read."""
    left = tries_left(request, email)
    if left is None:
        return ""
    return ngettext(
        "%(count)s try left before signing in with this email pauses for a while.",
        "%(count)s tries left before signing in with this email pauses for a while.",
        left,
    ) % {"count": left}


def clear_email(request: HttpRequest, email: str) -> None:
    """Forget the failures counted against an email (after a successful PIN recovery)."""
    try:
        ratelimit.clear(request, app=APP, action=EMAIL_ACTION, config=_config(), key=_key(email))
    except CACHE_ERRORS as exc:  # fallback: they lapse with their window (stricter, never looser)
        logger.warning("Throttle: could not clear the failures of an email: %s", exc)


def registration(request: HttpRequest) -> Refusal | None:
    """Count one registration against the client IP: allauth's `signup` limit, so web sign-ups
    and API registrations share one budget. Returns a Refusal when over it; raises
    CountersUnavailable when the cache cannot be reached."""
    from allauth.account import app_settings as account_settings

    config = account_settings.RATE_LIMITS
    with _counting("registration"):
        if ratelimit.consume(request, app="allauth.account", action="signup", config=config) is None:
            return Refusal(
                scope="ip", retry_after=_retry_after(request, "signup", "", app="allauth.account", config=config)
            )
    return None


def minutes(seconds: int) -> int:
    return max(1, math.ceil(seconds / 60))
