"""The server process's C heap: glibc's malloc held to few arenas, and its free pages handed back.

Python's small objects live in its own allocator; everything larger (buffers, SQLite's pages, the
C libraries' allocations) goes through malloc, whose defaults are made for throughput, not for a
process that should stay small. Neither function does anything where the C library is not glibc.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util

# glibc's mallopt parameter for the most malloc arenas (malloc.h).
_M_ARENA_MAX = -8
MALLOC_ARENAS = 2
# How often the C heap's free pages are handed back to the system.
MALLOC_TRIM_INTERVAL_SECONDS = 30.0


def _libc() -> ctypes.CDLL | None:
    name = ctypes.util.find_library("c")
    try:
        return None if name is None else ctypes.CDLL(name)
    except OSError:
        return None


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Let the process's threads share ``arenas`` malloc arenas instead of one each (glibc's default,
    up to 8 per core). The server's threads (the database connections' and the file writers') each
    allocate a little; one arena apiece left 3 to 4 MiB of RSS per run of small uploads that two
    shared arenas do not. Python's own small objects do not go through malloc's arenas at all.
    False where the C library is not glibc."""
    libc = _libc()
    try:
        return libc is not None and bool(libc.mallopt(_M_ARENA_MAX, arenas))
    except AttributeError:  # not glibc
        return False


async def trim_malloc_periodically(interval_seconds: float = MALLOC_TRIM_INTERVAL_SECONDS) -> None:
    """Hand the C heap's free pages back to the system now and then (glibc's ``malloc_trim``). Many
    small uploads leave the heap fragmented, its free pages counted in RSS: about 2 MiB after a few
    thousand, which a trim returns. Walking the heap takes about a millisecond, in a thread."""
    libc = _libc()
    trim = getattr(libc, "malloc_trim", None)
    if trim is None:
        return
    while True:
        await asyncio.sleep(interval_seconds)
        await asyncio.to_thread(trim, 0)
