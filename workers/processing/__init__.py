"""Pure functions on files: detect the type, validate, derive. No Dramatiq, no database.

This package's top holds only the nouns (options, results, errors), light to import; the decoders
(Pillow, pillow-heif, PyAV) load with ``workers.processing.pipeline``, only where media is processed:
the job's child process and its fork server."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from workers.processing.errors import PermanentProcessingError, ProcessingError, TransientProcessingError


@dataclass(frozen=True)
class ProcessingOptions:
    thumbnail_sizes: tuple[int, ...]
    max_image_pixels: int
    web_size: int = 2048  # longest side of the optimised web version of an image
    derivative_format: str = "auto"  # "auto" (JPEG, or WebP with transparency), "jpeg" or "webp"
    keep_gps: bool = False  # record GPS coordinates in the asset's metadata (never in derivatives)
    allowed_types: tuple[str, ...] = ("image/*", "video/*", "audio/*")


def is_allowed(mime: str, allowed_types: tuple[str, ...]) -> bool:
    """``image/jpeg`` against patterns such as ``image/*``, ``application/pdf`` or ``*``."""
    major = mime.split("/", 1)[0]
    return any(pattern in ("*", "*/*", mime, f"{major}/*") for pattern in allowed_types)


@dataclass
class ProcessingResult:
    detected_type: str
    width: int | None = None
    height: int | None = None
    duration_seconds: float | None = None
    format: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    derivatives: list[str] = field(default_factory=list)


class DetectedButFailed(PermanentProcessingError):
    """A permanent failure that still knows what the file was."""

    def __init__(self, detected_type: str, reason: str) -> None:
        super().__init__(reason)
        self.detected_type = detected_type


class TypeNotAllowed(DetectedButFailed):
    """The file is of a type ALLOWED_TYPES does not admit."""

    def __init__(self, detected_type: str) -> None:
        super().__init__(detected_type, f"type not allowed: {detected_type}")


__all__ = [
    "DetectedButFailed",
    "PermanentProcessingError",
    "ProcessingError",
    "ProcessingOptions",
    "ProcessingResult",
    "TransientProcessingError",
    "TypeNotAllowed",
    "is_allowed",
]
