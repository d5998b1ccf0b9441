"""What the protocol layer reports about an upload's life; the application decides what it means."""

from __future__ import annotations

from typing import Protocol

from app.vocabulary import UploadInfo


class UploadEvents(Protocol):
    async def created(self, info: UploadInfo) -> None: ...

    async def progressed(self, upload_id: str, offset: int) -> None:
        """Bytes were written (or a write ended early); ``offset`` is what the store now holds."""
        ...

    async def completed(self, upload_id: str, length: int) -> None:
        """The last byte landed."""
        ...

    async def terminated(self, upload_id: str) -> None: ...
