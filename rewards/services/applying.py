"""Applying stored events to their member: everything pending for a set of members, in one
savepoint and a handful of queries, or (when anything in that run fails) one event at a time, so
one bad event is stored as `failed` and never takes the others down. Package-private."""

import logging
from collections import defaultdict
from collections.abc import Sequence

from allauth.account.models import EmailAddress
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts.models import User

from ..models import ActivityEvent, EventStatus, MemberLink
from ..rank_cells import cells_deferred
from ._cache import AwardCache
from ._shared import bulk_set, lock_profile, lock_profiles
from .awards import Note, apply_event
from .granting import AwardRun

logger = logging.getLogger(__name__)


def _claims(users: Sequence[User]) -> dict[int, list[int]]:
    """The pending events of each member (by user, a verified email or a known external id),
    oldest first. An event two of them could claim goes to the first by user, email, external id."""
    pks = [user.pk for user in users]
    by_email: dict[str, int] = {}
    for user_id, email in EmailAddress.objects.filter(user_id__in=pks, verified=True).values_list("user_id", "email"):
        by_email.setdefault(email.lower(), user_id)
    by_ext: dict[tuple[str, str], int] = {}
    for user_id, source, ext in MemberLink.objects.filter(user_id__in=pks).values_list(
        "user_id", "integration__name", "external_id"
    ):
        by_ext.setdefault((source, ext), user_id)
    cond = Q(user_id__in=pks) | Q(user_email__in=list(by_email))
    sources: dict[str, list[str]] = defaultdict(list)
    for source, ext in by_ext:
        sources[source].append(ext)
    for source, exts in sources.items():
        cond |= Q(source=source, user_external_id__in=exts)
    rows = (
        ActivityEvent.objects.filter(status=EventStatus.PENDING)
        .filter(cond)
        .order_by("occurred_at", "pk")
        .values_list("pk", "user_id", "user_email", "source", "user_external_id")
    )
    claims: dict[int, list[int]] = defaultdict(list)
    members = set(pks)
    for pk, user_id, email, source, ext in rows:
        owner = user_id if user_id in members else by_email.get(email) or by_ext.get((source, ext))
        if owner is not None:
            claims[owner].append(pk)
    return claims


def apply_pending(
    users: Sequence[User], cache: AwardCache | None = None, applied: dict[int, ActivityEvent] | None = None
) -> int:
    """Apply the pending events of `users`, each member's oldest first. Returns how many were
    pending. One savepoint for the run; if anything in it fails, the run is rolled back and
    redone one event per savepoint (`_apply_one`), which stores the culprit as failed.
    `applied` receives the events the run applied, as stored (left empty when it was redone
    one by one: read them again)."""
    claims = _claims(users)
    if not claims:
        return 0
    by_pk = {user.pk: user for user in users}
    try:
        with transaction.atomic(), cells_deferred():  # shared rank cells: once, in key order
            done = _apply_run(claims, by_pk, cache or AwardCache())
    except Exception:
        logger.warning("Applying %s members' events together failed; applying one by one", len(claims), exc_info=True)
        for user_id, ids in claims.items():
            for event_id in ids:
                _apply_one(event_id=event_id, user=by_pk[user_id])
    else:
        if applied is not None:
            applied.update((event.pk, event) for event in done)
    return sum(len(ids) for ids in claims.values())


def _apply_run(claims: dict[int, list[int]], users: dict[int, User], cache: AwardCache) -> list[ActivityEvent]:
    profiles = lock_profiles(list(claims))  # house lock order: profiles, then the events
    ids = [event_id for run in claims.values() for event_id in run]
    events = ActivityEvent.objects.select_for_update(no_key=True).filter(pk__in=ids).order_by("pk")
    locked = {e.pk: e for e in events}
    # What each award looks up, read for the whole run: deleted objects, earlier awards, accounts.
    cache.prefetch_deleted(e.object_key for e in locked.values())
    owner = {event_id: user_id for user_id, run in claims.items() for event_id in run}
    keys = [(owner[e.pk], k) for e in locked.values() for k in (e.object_key, f"{e.object_key}#{e.pk}")]
    cache.prefetch_history(keys)
    cache.prefetch_accounts(claims)
    # Pass 1 decides every award in memory; `awards.post()` writes them together (granting.py).
    awards = AwardRun(cache)
    done: list[tuple[ActivityEvent, list[Note]]] = []
    for user_id in sorted(claims, key=cache.account_order):  # account locks in id order
        user = users[user_id]
        for event_id in claims[user_id]:
            event = locked.get(event_id)
            if event is None or event.status != EventStatus.PENDING:
                continue
            notes = apply_event(event=event, user=user, profile=profiles[user_id], cache=cache, run=awards)
            done.append((event, notes))
    awards.post()
    now = timezone.now()
    for event, notes in done:
        event.user = users[owner[event.pk]]
        event.status = EventStatus.APPLIED
        event.applied_at = now
        event.note = "; ".join(str(note) for note in notes)[:255]
    applied = [event for event, _ in done]
    bulk_set(ActivityEvent, applied, ["user", "status", "applied_at", "note"])
    return applied


def _apply_one(*, event_id: int, user: User) -> None:
    """Apply one pending event in a savepoint; on an unexpected error keep it as failed."""
    try:
        with transaction.atomic(), cells_deferred():
            profile = lock_profile(user.pk)
            event = ActivityEvent.objects.select_for_update(no_key=True).get(pk=event_id)
            if event.status != EventStatus.PENDING:
                return
            notes = apply_event(event=event, user=user, profile=profile)  # a run of one, posted
            event.user = user
            event.status = EventStatus.APPLIED
            event.applied_at = timezone.now()
            event.note = "; ".join(str(note) for note in notes)[:255]
            event.save(update_fields=["user", "status", "applied_at", "note"])
    except Exception as exc:  # stored as failed, never lost: staff can re-apply from the admin
        logger.exception("Event #%s: applying failed", event_id)
        ActivityEvent.objects.filter(pk=event_id, status=EventStatus.PENDING).update(
            user=user, status=EventStatus.FAILED, note=f"{type(exc).__name__}: {exc}"[:255]
        )
