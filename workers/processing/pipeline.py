"""From a file to a result: detect the type, check it is allowed, and hand it to the right pipeline.

The one module that loads every decoder; ``workers.processing`` names it lazily, so a process that
only schedules jobs never loads them."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from workers.processing import (
    DetectedButFailed,
    PermanentProcessingError,
    ProcessingOptions,
    ProcessingResult,
    TypeNotAllowed,
    is_allowed,
)
from workers.processing.av import process_av
from workers.processing.images import process_image
from workers.processing.sniff import DetectedType, detect_type


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
