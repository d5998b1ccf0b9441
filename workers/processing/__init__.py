"""Pure functions on files: detect the type, validate, derive. No Dramatiq, no database."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from workers.processing.errors import PermanentProcessingError, ProcessingError, TransientProcessingError
from workers.processing.images import process_image
from workers.processing.sniff import detect_type


@dataclass(frozen=True)
class ProcessingOptions:
    thumbnail_sizes: tuple[int, ...]
    max_image_pixels: int


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


def process_media_file(source: BinaryIO, output_dir: Path, options: ProcessingOptions) -> ProcessingResult:
    detected = detect_type(source)
    if detected.kind != "image":
        source.seek(0, 2)
        return ProcessingResult(detected_type=detected.mime, details={"size": source.tell()})
    try:
        image = process_image(source, output_dir, options.thumbnail_sizes, options.max_image_pixels)
    except PermanentProcessingError as error:
        raise DetectedButFailed(detected.mime, str(error)) from None
    return ProcessingResult(
        detected_type=image.mime if image.mime != "application/octet-stream" else detected.mime,
        width=image.width,
        height=image.height,
        format=image.format,
        details=image.details,
        derivatives=image.derivatives,
    )


__all__ = [
    "DetectedButFailed",
    "PermanentProcessingError",
    "ProcessingError",
    "ProcessingOptions",
    "ProcessingResult",
    "TransientProcessingError",
    "process_media_file",
]
