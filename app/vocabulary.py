"""The nouns every layer shares: upload ids, what is known of an upload, and an asset's status."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass, field
from enum import StrEnum

# 16 random bytes, url-safe base64 without padding: 128 bits in 22 characters.
UPLOAD_ID_LENGTH = 22
_UPLOAD_ID_PATTERN = re.compile(rf"[A-Za-z0-9_-]{{{UPLOAD_ID_LENGTH}}}")


def new_upload_id() -> str:
    # Never a leading "-": an id is typed and pasted into commands (``tusmedia reprocess ID``), where
    # one such would be read as an option. Drawing again costs one in 64 ids a second random draw.
    while (upload_id := secrets.token_urlsafe(16)).startswith("-"):
        pass
    return upload_id


def is_valid_upload_id(value: str) -> bool:
    """True only for ids this server could have made, so an id can never name a path elsewhere."""
    return _UPLOAD_ID_PATTERN.fullmatch(value) is not None


class AssetStatus(StrEnum):
    UPLOADING = "uploading"
    QUEUED = "queued"
    PROCESSING = "processing"
    READY = "ready"
    FAILED = "failed"


class Concat(StrEnum):
    """The role of an upload in the tus concatenation extension."""

    PARTIAL = "partial"
    FINAL = "final"


@dataclass(frozen=True)
class UploadInfo:
    """What the store keeps beside an upload's bytes. The offset is not here: it is the data's size."""

    id: str
    length: int | None  # None while the client defers it (creation-defer-length)
    owner: str
    metadata: dict[str, str] = field(default_factory=dict)
    created_at: str = ""
    concat: Concat | None = None
    parts: tuple[str, ...] = ()  # a final upload's partial uploads, in order
    awaiting_finals: tuple[str, ...] = ()  # final uploads waiting for this partial to finish

    @property
    def filename(self) -> str | None:
        return self.metadata.get("filename") or self.metadata.get("name")

    @property
    def declared_type(self) -> str | None:
        return self.metadata.get("filetype") or self.metadata.get("type") or self.metadata.get("contentType")

    @property
    def is_partial(self) -> bool:
        return self.concat is Concat.PARTIAL

    @property
    def is_final(self) -> bool:
        return self.concat is Concat.FINAL

    def is_complete_at(self, offset: int) -> bool:
        return self.length is not None and offset == self.length
