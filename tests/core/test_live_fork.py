"""core.live keeps one event loop per process: a forked child never reuses its parent's loop, and
with it channels-redis's pooled sockets (two processes on one socket read each other's replies:
issue 14's ledger bench saw `zrange` answered with an int)."""

import asyncio
import os
import threading

import pytest

from core import live


def _loop() -> asyncio.AbstractEventLoop:
    seen: list[asyncio.AbstractEventLoop] = []

    async def note() -> None:
        seen.append(asyncio.get_running_loop())

    live._run(note)
    return seen[0]


def _fork_and_compare() -> bytes:
    parent = _loop()  # held, so a new loop in the child cannot be the same object
    assert _loop() is parent  # one loop per thread, reused by every publish
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report whether it got a loop of its own, then leave at once
        try:
            os.write(write, b"own" if _loop() is not parent else b"shared")
        finally:
            os._exit(0)
    os.close(write)
    answer = os.read(read, 16)
    os.waitpid(pid, 0)
    return answer


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_runs_on_a_loop_of_its_own():
    # In a thread of its own: a clean thread-local state, as in a Celery worker or a bench's
    # process (the test runner's main thread may have been handed an ASGI loop by other tests).
    answers: list[bytes] = []
    thread = threading.Thread(target=lambda: answers.append(_fork_and_compare()))
    thread.start()
    thread.join(timeout=30)
    assert answers == [b"own"]
