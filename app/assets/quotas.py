"""Per-user limits, checked when an upload is created: bytes (``USER_QUOTA_BYTES``) and unfinished
uploads (``USER_MAX_UNFINISHED``). 0 means no limit. Admins are exempt.

Usage is read from the user's rows: a finished upload counts its length, an unfinished one its
declared length (what it reserves) or, while that is deferred, what it holds. Partial uploads of a
concatenation have no row; each is checked on its own length when created, and the final upload's row
then counts the parts' bytes once, as its own length.
"""

from __future__ import annotations

from dataclasses import dataclass

from databases import Database

from app.db import stats
from app.tus.events import UploadRefused
from config import Settings


@dataclass(frozen=True)
class Quotas:
    max_bytes: int = 0
    max_unfinished: int = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> Quotas:
        return cls(max_bytes=settings.user_quota_bytes, max_unfinished=settings.user_max_unfinished)

    @property
    def any(self) -> bool:
        return self.max_bytes > 0 or self.max_unfinished > 0

    async def check(self, database: Database, subject: str, length: int | None) -> None:
        """Raise ``UploadRefused`` (413 bytes, 429 unfinished uploads) when the upload would pass a limit."""
        if not self.any:
            return
        usage = await stats.usage(database, subject)
        if self.max_unfinished > 0 and usage.unfinished_uploads >= self.max_unfinished:
            raise UploadRefused(
                429,
                f"you have {usage.unfinished_uploads} unfinished uploads, the most allowed is {self.max_unfinished}; "
                "finish or delete one first",
            )
        wanted = length or 0
        if self.max_bytes > 0 and usage.bytes_reserved + wanted > self.max_bytes:
            raise UploadRefused(
                413,
                f"storage quota exceeded: {usage.bytes_reserved} bytes used of {self.max_bytes}, "
                f"this upload needs {wanted}",
            )
