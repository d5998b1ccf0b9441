"""Detect a file's type from its first bytes, never from its name or the client's claim.

Some containers hold sound or pictures alike (MP4, Matroska/WebM, Ogg): their first bytes make them
video, and when FFmpeg finds no picture among their streams (cover art aside) they become audio.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import BinaryIO

import av
from av.stream import Disposition

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
    if brand.startswith(b"3g"):
        return "video/3gpp"
    return "video/mp4"


def _matroska(head: bytes) -> str | None:
    if not head.startswith(b"\x1aE\xdf\xa3"):
        return None
    # The EBML header names the profile in its DocType element (id 0x4282, then a one-byte size).
    at = head.find(b"\x42\x82")
    size_byte = head[at + 2] if 0 <= at < len(head) - 2 else 0
    doctype = head[at + 3 : at + 3 + (size_byte & 0x7F)] if size_byte & 0x80 else b""
    return "video/webm" if doctype == b"webm" else "video/x-matroska"


# The first packet of an Ogg stream names its codec; Theora, when present, must come first.
_OGG_CODECS: tuple[tuple[bytes, str], ...] = (
    (b"\x80theora", "video/ogg"),
    (b"\x01vorbis", "audio/ogg"),
    (b"OpusHead", "audio/ogg"),
    (b"\x7fFLAC", "audio/ogg"),
    (b"Speex   ", "audio/ogg"),
)


def _ogg(head: bytes) -> str | None:
    if not head.startswith(b"OggS") or len(head) < 27:
        return None
    first_packet = head[27 + head[26] :]  # after the page header and its segment table
    # Anything else first (a Skeleton track) says nothing yet: the streams decide.
    return next((mime for magic, mime in _OGG_CODECS if first_packet.startswith(magic)), "video/ogg")


def _riff(head: bytes) -> str | None:
    if head[:4] != b"RIFF":
        return None
    return {b"WEBP": "image/webp", b"WAVE": "audio/wav", b"AVI ": "video/x-msvideo"}.get(head[8:12])


def _aiff(head: bytes) -> str | None:
    return "audio/aiff" if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC") else None


_PREFIXES: tuple[tuple[bytes, str], ...] = (
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"fLaC", "audio/flac"),
    (b"FLV\x01", "video/x-flv"),
    (b"ID3", "audio/mpeg"),
    (b"%PDF-", "application/pdf"),
    (b"PK\x03\x04", "application/zip"),
)


# Containers of either kind, detected as video, and what they are when they hold only sound.
_SOUND_ONLY = {
    "video/mp4": "audio/mp4",
    "video/quicktime": "audio/mp4",
    "video/3gpp": "audio/3gpp",
    "video/webm": "audio/webm",
    "video/x-matroska": "audio/x-matroska",
    "video/ogg": "audio/ogg",
}


def _mpeg_audio(head: bytes) -> str | None:
    """A bare frame header: ADTS AAC (layer bits 00) or MPEG audio (layers I-III), without an ID3 tag."""
    if len(head) < 2 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return None
    return "audio/aac" if head[1] & 0xF6 == 0xF0 else "audio/mpeg"


def _holds_only_sound(source: BinaryIO) -> bool:
    """Whether FFmpeg finds sound and no picture (cover art is no picture) in ``source``."""
    try:
        with av.open(source, mode="r", metadata_errors="replace") as container:
            pictures = [s for s in container.streams.video if not s.disposition & Disposition.attached_pic]
            return bool(container.streams.audio) and not pictures
    except av.FFmpegError:
        return False  # unreadable: keep what the bytes said, and let processing say what is wrong
    finally:
        source.seek(0)


def detect_type(source: BinaryIO) -> DetectedType:
    source.seek(0)
    head = source.read(SNIFF_BYTES)
    source.seek(0)
    found = _iso_media(head) or _riff(head) or _aiff(head) or _matroska(head) or _ogg(head)
    if found is None:
        found = next((mime for prefix, mime in _PREFIXES if head.startswith(prefix)), None)
    found = found or _mpeg_audio(head)
    if found in _SOUND_ONLY and _holds_only_sound(source):
        found = _SOUND_ONLY[found]
    return DetectedType(found or "application/octet-stream")
