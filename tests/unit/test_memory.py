"""The C heap's settings: glibc's malloc takes them here (the project's machines run glibc)."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util

import pytest

from app.memory import limit_malloc_arenas, trim_malloc_periodically


def test_malloc_takes_the_arena_limit() -> None:
    assert limit_malloc_arenas() is True


class _CountingLibc:
    """glibc's malloc_trim, counted."""

    def __init__(self) -> None:
        self.libc = ctypes.CDLL(ctypes.util.find_library("c"))
        self.pads: list[int] = []

    def malloc_trim(self, pad: int) -> int:
        self.pads.append(pad)
        return int(self.libc.malloc_trim(pad))


def test_the_heap_is_trimmed_again_and_again_until_the_task_is_cancelled(monkeypatch: pytest.MonkeyPatch) -> None:
    libc = _CountingLibc()
    monkeypatch.setattr("app.memory._libc", lambda: libc)

    async def run_a_while() -> None:
        task = asyncio.create_task(trim_malloc_periodically(interval_seconds=0.01))
        await asyncio.sleep(0.2)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(run_a_while())
    assert len(libc.pads) >= 3 and set(libc.pads) == {0}
