"""Parsing and formatting of tus request and response headers."""

from __future__ import annotations

import base64
import binascii
import re

TUS_RESUMABLE = "1.0.0"
TUS_VERSION = "1.0.0"
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"

# A byte count has at most 19 digits: anything longer is past every limit this server has, and int()
# is never handed a string of unbounded length (it refuses more than 4300 digits with a ValueError).
MAX_DIGITS = 19
# [0-9], not \d or str.isdigit(): those also accept "²" or "٣", which int() may not read.
_DIGITS = re.compile(r"[0-9]+")


class HeaderError(ValueError):
    """A header that cannot be parsed; the message says which and why."""


def parse_non_negative(name: str, value: str | None) -> int:
    """A byte count (``Upload-Length``, ``Upload-Offset``, ``Content-Length``, a ``Range`` bound):
    ASCII digits only, at most MAX_DIGITS of them; HeaderError naming ``name`` otherwise."""
    if value is None:
        raise HeaderError(f"missing {name} header")
    value = value.strip(" \t")  # HTTP's optional whitespace; str.strip() would also take "\xa0"
    if not _DIGITS.fullmatch(value):
        raise HeaderError(f"{name} must be a non-negative integer in ASCII digits, got {value[:40]!r}")
    if len(value) > MAX_DIGITS:
        raise HeaderError(f"{name} has {len(value)} digits; a byte count here has at most {MAX_DIGITS}")
    return int(value)


def refuse_oversized(name: str, value: str | None, limit: int) -> None:
    """A header longer than ``limit`` bytes (Starlette decodes header values as latin-1: a character a byte)."""
    if value is not None and len(value) > limit:
        raise HeaderError(f"{name} is {len(value)} bytes long; this server takes at most {limit}")


def parse_metadata(value: str | None) -> dict[str, str]:
    """``key base64value,key2 base64value2,key3``; an empty header (tuspy 1.1 sends one) means none."""
    metadata: dict[str, str] = {}
    if value is None or not value.strip():
        return metadata
    for pair in value.split(","):
        parts = pair.strip().split(" ")
        if len(parts) > 2 or not parts[0]:
            raise HeaderError(f"malformed Upload-Metadata pair {pair.strip()[:40]!r}")
        key = parts[0]
        if key in metadata:
            raise HeaderError(f"Upload-Metadata repeats the key {key[:40]!r}")
        encoded = parts[1] if len(parts) == 2 else ""
        try:
            raw = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raise HeaderError(f"Upload-Metadata value for {key[:40]!r} is not base64") from None
        metadata[key] = raw.decode("utf-8", errors="replace")
    return metadata


def format_metadata(metadata: dict[str, str]) -> str:
    return ",".join(
        f"{key} {base64.b64encode(value.encode()).decode()}" if value else key for key, value in metadata.items()
    )


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";", 1)[0].strip().lower()
