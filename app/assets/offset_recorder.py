"""Copying upload offsets into the database without slowing uploads down.

A database write costs about as much as receiving a megabyte, and a fast client sends many PATCHes
a second. The first offset of a burst is written at once, later ones at most once per interval, and
the last one always: the status API lags the bytes by at most ``interval_seconds``. The protocol
never reads this copy; its truth is the data file's size.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)

WriteOffset = Callable[[str, int], Awaitable[None]]


class OffsetRecorder:
    def __init__(self, write: WriteOffset, interval_seconds: float) -> None:
        self._write = write
        self.interval_seconds = interval_seconds
        self._latest: dict[str, int] = {}
        self._written: dict[str, int] = {}
        self._windows: dict[str, asyncio.Task[None]] = {}

    async def record(self, upload_id: str, offset: int) -> None:
        self._latest[upload_id] = offset
        if upload_id in self._windows:
            return  # the open window writes the latest offset when it closes
        await self._write(upload_id, offset)
        self._written[upload_id] = offset
        self._windows[upload_id] = asyncio.create_task(self._close_window(upload_id))

    async def _close_window(self, upload_id: str) -> None:
        await asyncio.sleep(self.interval_seconds)
        del self._windows[upload_id]
        await self._write_pending(upload_id)

    async def _write_pending(self, upload_id: str) -> None:
        latest = self._latest.pop(upload_id, None)
        written = self._written.pop(upload_id, None)
        if latest is not None and latest != written:
            try:
                await self._write(upload_id, latest)
            except Exception:
                log.exception("could not record offset %d of %s", latest, upload_id)

    def forget(self, upload_id: str) -> None:
        """The upload finished or ended: whatever is pending is superseded."""
        window = self._windows.pop(upload_id, None)
        if window is not None:
            window.cancel()
        self._latest.pop(upload_id, None)
        self._written.pop(upload_id, None)

    async def flush(self) -> None:
        """Write every pending offset now (at shutdown)."""
        windows, self._windows = self._windows, {}
        for upload_id, window in windows.items():
            window.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await window
            await self._write_pending(upload_id)
