"""What the protocol layer reports about an upload's life; the application decides what it means."""

from __future__ import annotations

from typing import Protocol

from app.vocabulary import Concat, UploadInfo


class UploadRefused(Exception):
    """The application will not take this upload (a quota, a policy): the status and the one-line
    reason the client sees."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class UploadEvents(Protocol):
    async def admit(
        self, subject: str, is_admin: bool, length: int | None, metadata: dict[str, str], concat: Concat | None
    ) -> dict[str, str]:
        """Before anything is created: may the user start this upload? Returns its metadata, possibly
        amended; raises ``UploadRefused`` to refuse it."""
        ...

    async def created(self, info: UploadInfo) -> None: ...

    async def progressed(self, info: UploadInfo, offset: int) -> None:
        """Bytes were written (or a write ended early); ``offset`` is what the store now holds."""
        ...

    async def completed(self, info: UploadInfo, just_finished: bool = False) -> None:
        """The upload has all its bytes (for a final upload: its parts were joined). ``just_finished``
        when this request wrote the last of them; otherwise a request or a sweep found it complete."""
        ...

    async def terminated(self, upload_id: str, reason: str = "deleted") -> None:
        """The upload was removed: ``deleted`` by a client, or ``expired``."""
        ...

    async def content_type(self, upload_id: str) -> str | None:
        """The media type detected from the bytes, once known, for downloads."""
        ...
