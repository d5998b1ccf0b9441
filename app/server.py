"""uvicorn, taught to stop open uploads before it waits for them.

On SIGTERM uvicorn stops accepting connections and waits for running requests to finish. A PATCH
whose client has gone quiet never finishes by itself, so shutdown would wait for the network timeout
or the grace period. This server first interrupts every request that is waiting for body bytes: they
keep what they wrote and answer 503 at once, and the grace period is left for everything else.
"""

from __future__ import annotations

import socket
from collections.abc import Callable

import uvicorn


class UploadServer(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, interrupt_uploads: Callable[[], None]) -> None:
        super().__init__(config)
        self.interrupt_uploads = interrupt_uploads

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.interrupt_uploads()
        await super().shutdown(sockets)
