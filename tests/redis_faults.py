"""Redis failures for tests, injected at the client: "down" (a port nobody listens on: connection
refused at once) and "hung" (a server that accepts connections and never answers, as a stopped
or wedged Redis behind a live TCP stack does). `redis_at(url)` points every Redis client of the
site at it: the Django cache (throttles, allauth's limits), the leaderboard client and the Celery
broker, keeping the configured timeouts, so a test exercises the settings production runs with."""

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def down_url() -> str:
    return f"redis://127.0.0.1:{free_port()}/0"


class HungRedis:
    """Accepts every connection and never reads or answers. `close()` hangs up on every client,
    which also frees any call that waits without a timeout."""

    def __init__(self) -> None:
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(128)
        self.port = int(self._listener.getsockname()[1])
        self._clients: list[socket.socket] = []
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                return
            self._clients.append(conn)

    def close(self) -> None:
        self._closed.set()
        self._listener.close()
        for conn in self._clients:
            conn.close()


@contextmanager
def redis_at(settings: Any, url: str) -> Iterator[None]:
    """Point the cache, the leaderboard client and the broker at `url`, keeping their options."""
    from config.celery import app

    cache = dict(settings.CACHES["default"])
    cache["BACKEND"] = "django.core.cache.backends.redis.RedisCache"
    cache["LOCATION"] = url
    settings.CACHES = {"default": cache}
    settings.REDIS_URL = url
    saved = app.conf.broker_url, app.conf.task_always_eager

    def use(broker: str) -> None:
        app.conf.broker_url = broker
        app._pool = None  # connections made for the suite's broker are not this one
        app.amqp._producer_pool = None

    use(url)
    app.conf.task_always_eager = False
    try:
        yield
    finally:
        app.conf.task_always_eager = saved[1]
        use(saved[0])
