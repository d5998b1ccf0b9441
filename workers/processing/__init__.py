"""Pure functions on files: detect the type, validate, derive. No Dramatiq, no database."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from workers.processing.av import process_av
from workers.processing.errors import PermanentProcessingError, ProcessingError, TransientProcessingError
from workers.processing.images import process_image
from workers.processing.sniff import DetectedType, detect_type


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


def process_media_file(source: BinaryIO, output_dir: Path, options: ProcessingOptions) -> ProcessingResult:
    detected = detect_type(source)
    if not is_allowed(detected.mime, options.allowed_types):
        raise TypeNotAllowed(detected.mime)
    try:
        return _process_by_kind(source, output_dir, options, detected)
    except DetectedButFailed:
        raise
    except PermanentProcessingError as error:
        raise DetectedButFailed(detected.mime, str(error)) from None


def _process_by_kind(
    source: BinaryIO, output_dir: Path, options: ProcessingOptions, detected: DetectedType
) -> ProcessingResult:
    if detected.kind in ("video", "audio"):
        media = process_av(source, output_dir, options, detected)
        return ProcessingResult(
            detected_type=detected.mime,
            width=media.width,
            height=media.height,
            duration_seconds=media.duration_seconds,
            format=media.format,
            details=media.details,
            derivatives=media.derivatives,
        )
    if detected.kind == "image":
        image = process_image(source, output_dir, options)
        return ProcessingResult(
            detected_type=image.mime if image.mime != "application/octet-stream" else detected.mime,
            width=image.width,
            height=image.height,
            format=image.format,
            details=image.details,
            derivatives=image.derivatives,
        )
    source.seek(0, 2)
    return ProcessingResult(detected_type=detected.mime, details={"size": source.tell()})


__all__ = [
    "DetectedButFailed",
    "PermanentProcessingError",
    "ProcessingError",
    "ProcessingOptions",
    "ProcessingResult",
    "TransientProcessingError",
    "TypeNotAllowed",
    "is_allowed",
    "process_media_file",
]
