"""Live updates: each signed-in member's open pages share one channel-layer group, and after a
commit the outbox handlers push small JSON events to it.

The group name comes from the member's id as the session authenticated it on the server; a client
never names a group, so a socket only ever hears its own member's events. Publishing is best
effort by design: a page that misses an event (no socket, the layer down) polls or reloads, and
the database stays the truth. `publish` never raises: it logs and returns False.
"""

import asyncio
import logging
import os
import threading
from collections import defaultdict
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from asgiref.sync import SyncToAsync, async_to_sync
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import InMemoryChannelLayer, get_channel_layer
from channels_redis.core import RedisChannelLayer
from django.conf import settings

logger = logging.getLogger(__name__)


def member_group(user_id: int) -> str:
    return f"member.{int(user_id)}"


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
    layer = get_channel_layer()
    if layer is None:
        return False

    async def send() -> None:
        message = {"type": "live.event", "event": event}
        await asyncio.wait_for(
            layer.group_send(member_group(user_id), message), timeout=settings.GOLDBOOK_LIVE_PUBLISH_TIMEOUT
        )

    try:
        _run(send)
    except Exception:  # redis, timeouts, a running loop: all mean "the page polls instead"
        logger.warning(
            "Live: member #%s: could not publish %s; their pages fall back to polling",
            user_id,
            event.get("type"),
            exc_info=True,
        )
        return False
    return True


class MemberConsumer(AsyncJsonWebsocketConsumer):
    """`/ws/`: refuses anonymous sockets, joins the signed-in member's own group, forwards its
    events. The client sends nothing that matters; what it sends is ignored."""

    group: str | None = None

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        group = member_group(user.pk)
        try:
            await asyncio.wait_for(
                self.channel_layer.group_add(group, self.channel_name),
                timeout=settings.GOLDBOOK_LIVE_PUBLISH_TIMEOUT,
            )
        except Exception:  # the layer is down: refuse, and the page polls
            logger.warning("Live: member #%s: could not join the group; socket refused", user.pk, exc_info=True)
            await self.close(code=1011)
            return
        self.group = group
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.group is None:
            return
        try:
            await asyncio.wait_for(
                self.channel_layer.group_discard(self.group, self.channel_name),
                timeout=settings.GOLDBOOK_LIVE_PUBLISH_TIMEOUT,
            )
        except Exception:  # the group entry expires by itself (group_expiry)
            logger.info("Live: could not leave %s; it expires by itself", self.group, exc_info=True)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        return None

    async def live_event(self, message: dict[str, Any]) -> None:
        await self.send_json(message["event"])
