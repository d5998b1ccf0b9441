"""Waking the live event streams after a commit: from any thread, a burst costing the loop one call,
and never a wake-up lost."""

from __future__ import annotations

import asyncio
import threading

import pytest

from app.notify.outbox import announce
from app.notify.stream import Wakeups

pytestmark = pytest.mark.anyio


def _announce_many(count: int) -> None:
    for number in range(count):
        announce(f"upload-{number}", 0)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def test_a_burst_of_commits_wakes_every_stream_with_one_call_on_the_loop_and_a_later_one_again() -> None:
    wakeups = Wakeups(redis_url="", channel="unused")
    await wakeups.start()
    calls = 0
    wake = wakeups.wake

    def counted_wake() -> None:
        nonlocal calls
        calls += 1
        wake()

    wakeups.wake = counted_wake  # type: ignore[method-assign]
    try:
        first, second = wakeups.subscribe(), wakeups.subscribe()
        burst = threading.Thread(target=_announce_many, args=(200,))
        burst.start()
        burst.join()
        await asyncio.wait_for(asyncio.gather(first.wait(), second.wait()), timeout=2)
        assert calls == 1

        first.clear()
        second.clear()
        announce("upload-later", 0)  # from the loop's own thread, after the first wake-up ran
        await asyncio.wait_for(asyncio.gather(first.wait(), second.wait()), timeout=2)
        assert calls == 2
    finally:
        await wakeups.stop()
