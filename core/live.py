"""Live updates: each signed-in member's open pages share one channel-layer group, and after a
commit the outbox handlers push small JSON events to it.

The group name comes from the member's id as the session authenticated it on the server; a client
never names a group, so a socket only ever hears its own member's events. Publishing is best
effort by design: a page that misses an event (no socket, the layer down) polls or reloads, and
the database stays the truth. `publish` never raises: it logs and returns False.
"""

import asyncio
import hashlib
import logging
import os
import threading
from collections import defaultdict
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from asgiref.sync import SyncToAsync, async_to_sync
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import InMemoryChannelLayer, get_channel_layer
from channels_redis.core import RedisChannelLayer
from django.conf import settings
from django.utils.crypto import constant_time_compare

logger = logging.getLogger(__name__)


def member_group(user_id: int) -> str:
    return f"member.{int(user_id)}"


def session_group(session_key: str) -> str:
    """The sockets opened under one web session (closed when it ends). A digest: group names are
    short ASCII, and the key itself never leaves the session store."""
    return "session." + hashlib.sha256(session_key.encode()).hexdigest()[:32]


SIGNED_OUT = 4401  # the close code of a socket whose session ended (the page stops reconnecting)


_thread = threading.local()


def _run(make: Callable[[], Coroutine[Any, Any, None]]) -> None:
    """Run a coroutine from sync code. Inside an ASGI request (a thread the server's loop handed
    the view), on that loop: the in-memory layer's queues belong to it. Elsewhere (Celery, the
    embedded default's eager tasks, commands), on one event loop kept per thread: async_to_sync
    would start a thread and a loop per call, and channels-redis a connection pool per loop."""
    if getattr(SyncToAsync.threadlocal, "main_event_loop_pid", None) == os.getpid():
        async_to_sync(make)()
        return
    loop = getattr(_thread, "loop", None)
    # A forked child (a bench's workers, a pool forked after the parent published) inherits the
    # parent's loop and, through it, channels-redis's connection pool: its sockets would then
    # carry two processes' commands and each would read the other's replies. One loop per process.
    if loop is None or loop.is_closed() or getattr(_thread, "pid", None) != os.getpid():
        loop = _thread.loop = asyncio.new_event_loop()
        _thread.pid = os.getpid()
    loop.run_until_complete(make())


def may_be_listening(user_id: int) -> bool:
    """False only when it is certain that no page of the member listens: the in-memory layer
    (the embedded default) holds every socket of the site in this process, so a group it does
    not know has none. The Redis layer cannot tell without asking Redis: True. Lets a publisher
    skip reading figures nobody will see (every transfer on the embedded default)."""
    layer = get_channel_layer()
    if layer is None:
        return False
    if isinstance(layer, InMemoryChannelLayer):
        return bool(layer.groups.get(member_group(user_id)))
    return True


def listening(user_ids: Iterable[int]) -> list[int]:
    """`may_be_listening` for several members, in id order. On the Redis layer one pipelined
    ZCARD of their groups, instead of a `publish` (two Redis round trips and a turn of the event
    loop) to each member who has no page open: one ledger batch credits hundreds of members (an
    intake run's awards). A layer that cannot answer costs one bounded wait and one log line, and
    names nobody: their pages poll, as when `publish` fails."""
    ids = sorted({int(u) for u in user_ids})
    if not ids:
        return []
    layer = get_channel_layer()
    if not isinstance(layer, RedisChannelLayer):
        return [u for u in ids if may_be_listening(u)]
    found: list[int] = []

    async def count() -> None:
        by_index: dict[int, list[tuple[int, str]]] = defaultdict(list)
        for user_id in ids:
            group = member_group(user_id)
            by_index[layer.consistent_hash(group)].append((user_id, layer._group_key(group)))
        for index, keys in sorted(by_index.items()):
            pipe = layer.connection(index).pipeline(transaction=False)
            for _, key in keys:
                pipe.zcard(key)
            counts = await asyncio.wait_for(pipe.execute(), timeout=settings.GOLDBOOK_LIVE_PUBLISH_TIMEOUT)
            found.extend(user_id for (user_id, _), n in zip(keys, counts, strict=True) if n)

    try:
        _run(count)
    except Exception:  # redis, timeouts, a running loop: the pages poll instead
        logger.warning("Live: could not look up %s members' open pages; they fall back to polling", len(ids))
        return []
    return sorted(found)


def publish(*, user_id: int, event: dict[str, Any]) -> bool:
    """Send `event` (JSON, with a "type") to every open socket of the member. False when it could
    not be sent (no layer, the layer down or slower than GOLDBOOK_LIVE_PUBLISH_TIMEOUT, or called
    from inside an event loop): those pages fall back to their polling."""
    try:
        _group_send([member_group(user_id)], {"type": "live.event", "event": event})
    except Exception:  # redis, timeouts, a running loop: all mean "the page polls instead"
        logger.warning(
            "Live: member #%s: could not publish %s; their pages fall back to polling",
            user_id,
            event.get("type"),
            exc_info=True,
        )
        return False
    return True


def sessions_ended(session_keys: Iterable[str]) -> bool:
    """Close the sockets opened under these web sessions (signed out, or ended from another
    device). Best effort, bounded like `publish`: if the layer is down, those sockets hear nothing
    anyway, and each checks its session again before it forwards an event (`MemberConsumer`)."""
    groups = [session_group(key) for key in session_keys if key]
    if not groups:
        return True
    try:
        _group_send(groups, {"type": "session.ended"})
    except Exception:
        logger.warning(
            "Live: could not close the sockets of %s ended sessions; each closes on its next event",
            len(groups),
            exc_info=True,
        )
        return False
    return True


def _group_send(groups: list[str], message: dict[str, Any]) -> None:
    """Send `message` to `groups` within GOLDBOOK_LIVE_PUBLISH_TIMEOUT; raises when it can't."""
    layer = get_channel_layer()
    if layer is None:
        raise RuntimeError("no channel layer")

    async def send() -> None:
        async def each() -> None:
            for group in groups:
                await layer.group_send(group, message)

        await asyncio.wait_for(each(), timeout=settings.GOLDBOOK_LIVE_PUBLISH_TIMEOUT)

    _run(send)


def _still_signed_in(session_key: str, user_id: int) -> bool:
    """Whether this web session still signs in this active member (not signed out, not ended
    from another device, not expired, password unchanged): `django.contrib.auth.get_user`'s test."""
    from django.contrib.auth import HASH_SESSION_KEY, SESSION_KEY, get_user_model
    from django.contrib.sessions.middleware import SessionMiddleware
    from django.http import HttpResponse

    # The configured engine's store, as Django's own middleware loads it (SESSION_ENGINE).
    store = SessionMiddleware(HttpResponse).SessionStore(session_key)
    data = store.load()
    if str(data.get(SESSION_KEY)) != str(user_id):
        return False
    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    return user is not None and constant_time_compare(data.get(HASH_SESSION_KEY, ""), user.get_session_auth_hash())


def on_signed_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    """`user_logged_out` (connected in CoreConfig.ready): sent before the session is flushed."""
    key = getattr(getattr(request, "session", None), "session_key", None)
    if key:
        sessions_ended([key])


class MemberConsumer(AsyncJsonWebsocketConsumer):
    """`/ws/`: refuses anonymous sockets, joins the signed-in member's own group (and its web
    session's, which closes the socket when the session ends), forwards the member's events while
    the session still signs them in. The client sends nothing that matters; what it sends is ignored."""

    groups_joined: tuple[str, ...] = ()
    user_id: int | None = None
    session_key: str = ""

    async def connect(self) -> None:
        user = self.scope.get("user")
        session = self.scope.get("session")
        key = getattr(session, "session_key", None) or ""
        if user is None or not user.is_authenticated or not key:
            await self.close(code=SIGNED_OUT)
            return
        groups = (member_group(user.pk), session_group(key))
        try:
            await asyncio.wait_for(self._join(groups), timeout=settings.GOLDBOOK_LIVE_PUBLISH_TIMEOUT)
        except Exception:  # the layer is down: refuse, and the page polls
            logger.warning("Live: member #%s: could not join the group; socket refused", user.pk, exc_info=True)
            await self.close(code=1011)
            return
        self.groups_joined, self.user_id, self.session_key = groups, user.pk, key
        await self.accept()

    async def _join(self, groups: tuple[str, ...]) -> None:
        for group in groups:
            await self.channel_layer.group_add(group, self.channel_name)

    async def disconnect(self, code: int) -> None:
        if not self.groups_joined:
            return
        try:

            async def leave() -> None:
                for group in self.groups_joined:
                    await self.channel_layer.group_discard(group, self.channel_name)

            await asyncio.wait_for(leave(), timeout=settings.GOLDBOOK_LIVE_PUBLISH_TIMEOUT)
        except Exception:  # the group entries expire by themselves (group_expiry)
            logger.info("Live: could not leave %s; they expire by themselves", self.groups_joined, exc_info=True)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        return None

    async def live_event(self, message: dict[str, Any]) -> None:
        # A session ended while the layer could not tell this socket (or expired): forward nothing.
        if self.user_id is None or not await database_sync_to_async(_still_signed_in)(self.session_key, self.user_id):
            await self.close(code=SIGNED_OUT)
            return
        await self.send_json(message["event"])

    async def session_ended(self, message: dict[str, Any]) -> None:
        await self.close(code=SIGNED_OUT)
