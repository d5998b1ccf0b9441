"""One request at a time per upload, so no two writers meet and no HEAD sees a half-written state."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager


class UploadBusy(Exception):
    pass


class UploadLocks:
    """In-process locks. Several server processes sharing one upload directory need shared locks."""

    def __init__(self, wait_seconds: float) -> None:
        self.wait_seconds = wait_seconds
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}

    @asynccontextmanager
    async def hold(self, upload_id: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(upload_id, asyncio.Lock())
        self._users[upload_id] = self._users.get(upload_id, 0) + 1
        try:
            try:
                await asyncio.wait_for(lock.acquire(), self.wait_seconds)
            except TimeoutError:
                raise UploadBusy(upload_id) from None
            try:
                yield
            finally:
                lock.release()
        finally:
            self._users[upload_id] -= 1
            if not self._users[upload_id]:
                del self._users[upload_id]
                del self._locks[upload_id]
