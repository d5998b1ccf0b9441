"""uvicorn, taught to stop open uploads before it waits for them; and the process's memory set-up.

On SIGTERM uvicorn stops accepting connections and waits for running requests to finish. A PATCH
whose client has gone quiet never finishes by itself, so shutdown would wait for the network timeout
or the grace period. This server first interrupts every request that is waiting for body bytes: they
keep what they wrote and answer 503 at once, and the grace period is left for everything else.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import socket
from collections.abc import Callable

import uvicorn

# glibc's mallopt parameter for the most malloc arenas (malloc.h).
_M_ARENA_MAX = -8
MALLOC_ARENAS = 2


def limit_malloc_arenas(arenas: int = MALLOC_ARENAS) -> bool:
    """Let the process's threads share ``arenas`` malloc arenas instead of one each (glibc's default,
    up to 8 per core). The server's threads (the database connections' and the file writers') each
    allocate a little; one arena apiece left 3 to 4 MiB of RSS per run of small uploads that two
    shared arenas do not. Python's own small objects do not go through malloc's arenas at all.
    False where the C library is not glibc."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        return bool(ctypes.CDLL(name).mallopt(_M_ARENA_MAX, arenas))
    except (OSError, AttributeError):
        return False


class UploadServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, interrupt_uploads: Callable[[], None]) -> None:
        super().__init__(config)
        self.interrupt_uploads = interrupt_uploads

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.interrupt_uploads()
        await super().shutdown(sockets)
