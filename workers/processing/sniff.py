"""Detect a file's type from its first bytes, never from its name or the client's claim."""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

SNIFF_BYTES = 64

_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"mif1", b"msf1"}
_AVIF_BRANDS = {b"avif", b"avis"}


@dataclass(frozen=True)
class DetectedType:
    mime: str

    @property
    def kind(self) -> str:
        """``image``, ``video``, ``audio`` or ``other``."""
        major = self.mime.split("/", 1)[0]
        return major if major in ("image", "video", "audio") else "other"


def _iso_media(head: bytes) -> str | None:
    if head[4:8] != b"ftyp":
        return None
    brand = head[8:12]
    if brand in _AVIF_BRANDS:
        return "image/avif"
    if brand in _HEIF_BRANDS:
        return "image/heic"
    if brand in (b"M4A ", b"M4B ", b"M4P "):
        return "audio/mp4"
    if brand == b"qt  ":
        return "video/quicktime"
    return "video/mp4"


def _riff(head: bytes) -> str | None:
    if head[:4] != b"RIFF":
        return None
    return {b"WEBP": "image/webp", b"WAVE": "audio/wav", b"AVI ": "video/x-msvideo"}.get(head[8:12])


_PREFIXES: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"\x1aE\xdf\xa3", "video/webm"),
    (b"OggS", "audio/ogg"),
    (b"fLaC", "audio/flac"),
    (b"ID3", "audio/mpeg"),
    (b"%PDF-", "application/pdf"),
    (b"PK\x03\x04", "application/zip"),
)


def detect_type(source: BinaryIO) -> DetectedType:
    source.seek(0)
    head = source.read(SNIFF_BYTES)
    source.seek(0)
    found = _iso_media(head) or _riff(head)
    if found is None:
        found = next((mime for prefix, mime in _PREFIXES if head.startswith(prefix)), None)
    if found is None and len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        found = "audio/mpeg"  # an MPEG audio frame header without an ID3 tag
    return DetectedType(found or "application/octet-stream")
