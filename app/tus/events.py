"""What the protocol layer reports about an upload's life; the application decides what it means."""

from __future__ import annotations

from typing import Protocol

from app.vocabulary import UploadInfo


class UploadEvents(Protocol):
    async def created(self, info: UploadInfo) -> None: ...

    async def progressed(self, info: UploadInfo, offset: int) -> None:
        """Bytes were written (or a write ended early); ``offset`` is what the store now holds."""
        ...

    async def completed(self, info: UploadInfo) -> None:
        """The last byte landed (for a final upload: its parts were joined)."""
        ...

    async def terminated(self, upload_id: str) -> None: ...

    async def content_type(self, upload_id: str) -> str | None:
        """The media type detected from the bytes, once known, for downloads."""
        ...
