"""What an image says about itself, as JSON-safe values: EXIF fields people search by, animation, colour
profile and a blurhash placeholder. Read from the headers, except the blurhash (from a reduced image) and
the animation length (which walks the frames).
"""

from __future__ import annotations

import io
import math
from datetime import datetime
from typing import Any

from PIL import Image, ImageCms

from workers.processing import blurhash
from workers.processing.images_color import flatten_onto_white

ORIENTATION_TAG = 0x0112
EXIF_IFD = 0x8769
GPS_IFD = 0x8825
_TEXT_FIELDS = {0x010F: "camera_make", 0x0110: "camera_model"}
_EXIF_IFD_TEXT_FIELDS = {0xA433: "lens_make", 0xA434: "lens_model"}
_EXIF_IFD_NUMBER_FIELDS = {0x829A: "exposure_time", 0x829D: "f_number", 0x8827: "iso", 0x920A: "focal_length"}
_DATE_TIME = 0x0132
_DATE_TIME_ORIGINAL = 0x9003
_OFFSET_TIME_ORIGINAL = 0x9011
_GPS_LATITUDE_REF, _GPS_LATITUDE, _GPS_LONGITUDE_REF, _GPS_LONGITUDE = 1, 2, 3, 4
EXIF_DATE_FORMAT = "%Y:%m:%d %H:%M:%S"
MAX_TEXT_LENGTH = 200
BLURHASH_COMPONENTS = (4, 3)
BLURHASH_SOURCE_SIZE = 32  # pixels, longest side: a blurhash keeps only a few low frequencies


def orientation_of(image: Image.Image) -> int:
    """The EXIF orientation still to apply (HEIF decoders apply theirs and reset the tag to 1)."""
    orientation = image.getexif().get(ORIENTATION_TAG, 1)
    return orientation if orientation in range(1, 9) else 1


def exif_details(image: Image.Image, keep_gps: bool) -> dict[str, Any]:
    exif = image.getexif()
    sub_ifd = exif.get_ifd(EXIF_IFD)
    details: dict[str, Any] = {
        # HEIF keeps the orientation its decoder already applied in ``original_orientation``.
        "orientation": image.info.get("original_orientation") or orientation_of(image),
    }
    details.update(_texts(exif, _TEXT_FIELDS))
    details.update(_texts(sub_ifd, _EXIF_IFD_TEXT_FIELDS))
    for tag, name in _EXIF_IFD_NUMBER_FIELDS.items():
        number = _number(sub_ifd.get(tag))
        if number is not None:
            details[name] = number
    taken_at = _iso_datetime(sub_ifd.get(_DATE_TIME_ORIGINAL), sub_ifd.get(_OFFSET_TIME_ORIGINAL))
    modified_at = _iso_datetime(exif.get(_DATE_TIME), None)
    details.update({name: value for name, value in (("taken_at", taken_at), ("modified_at", modified_at)) if value})
    if keep_gps:
        details.update(_gps(exif.get_ifd(GPS_IFD)))
    return details


def _text(value: Any) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    text = str(value).strip("\x00 ")[:MAX_TEXT_LENGTH]
    return text or None


def _texts(ifd: Any, fields: dict[int, str]) -> dict[str, str]:
    texts = {name: _text(ifd[tag]) for tag, name in fields.items() if tag in ifd}
    return {name: text for name, text in texts.items() if text}


def _number(value: Any) -> float | None:
    """EXIF rationals and integers as a float; ISO may be a tuple of which the first counts."""
    if isinstance(value, tuple | list):
        value = value[0] if value else None
    try:
        number = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    # A rational with a zero denominator reads as NaN, which JSON cannot carry.
    return round(number, 6) if math.isfinite(number) else None


def _iso_datetime(value: Any, offset: Any) -> str | None:
    text = _text(value) if value is not None else None
    if not text:
        return None
    try:
        moment = datetime.strptime(text, EXIF_DATE_FORMAT)
    except ValueError:
        return None  # "0000:00:00 00:00:00" and other placeholders: nothing to search by
    offset_text = _text(offset) if offset is not None else None
    return moment.isoformat() + (offset_text if offset_text and len(offset_text) == 6 else "")


def _gps(gps: Any) -> dict[str, float]:
    latitude = _degrees(gps.get(_GPS_LATITUDE), gps.get(_GPS_LATITUDE_REF), "S", limit=90)
    longitude = _degrees(gps.get(_GPS_LONGITUDE), gps.get(_GPS_LONGITUDE_REF), "W", limit=180)
    if latitude is None or longitude is None:
        return {}  # half a position, or an impossible one, is no position
    return {"gps_latitude": latitude, "gps_longitude": longitude}


def _degrees(value: Any, reference: Any, negative_reference: str, limit: int) -> float | None:
    """Degrees, minutes, seconds and a hemisphere letter as signed decimal degrees."""
    if not isinstance(value, tuple) or len(value) != 3:
        return None
    parts = [_number(part) for part in value]
    if any(part is None for part in parts):
        return None
    degrees, minutes, seconds = (part or 0.0 for part in parts)
    decimal = degrees + minutes / 60 + seconds / 3600
    if not 0 <= decimal <= limit:
        return None
    hemisphere = _text(reference) or ""
    return round(-decimal if hemisphere.upper().startswith(negative_reference) else decimal, 7)


def animation_details(image: Image.Image, max_scan_pixels: int) -> dict[str, Any]:
    """Frame count, and the summed frame durations when walking the frames stays within a pixel budget.

    A frame's duration is only known once it is decoded (WebP sets it in ``load()``, GIF decodes the
    previous frame on every seek), so a long, large animation could cost far more than one still at the
    pixel limit; beyond the budget the duration is left out rather than paid for.
    """
    frames = getattr(image, "n_frames", 1)
    details: dict[str, Any] = {"frames": frames, "is_animated": bool(getattr(image, "is_animated", False))}
    if not details["is_animated"] or frames * image.width * image.height > max_scan_pixels:
        return details
    total_ms = 0
    for frame in range(frames):
        image.seek(frame)
        image.load()
        total_ms += int(image.info.get("duration") or 0)
    image.seek(0)
    details["duration_ms"] = total_ms
    return details


def icc_description(icc_profile: bytes | None) -> str | None:
    if not icc_profile:
        return None
    try:
        description = ImageCms.getProfileDescription(ImageCms.ImageCmsProfile(io.BytesIO(icc_profile)))
    except (ImageCms.PyCMSError, ValueError, OSError):
        return "unreadable profile"
    return _text(description.strip()) or "unnamed profile"


def blurhash_of(image: Image.Image) -> str:
    """A compact placeholder computed from a tiny copy; transparency shows as white, as in the JPEGs."""
    tiny = image.copy()
    tiny.thumbnail((BLURHASH_SOURCE_SIZE, BLURHASH_SOURCE_SIZE), Image.Resampling.BOX)
    rgb = flatten_onto_white(tiny) if "A" in tiny.mode else tiny.convert("RGB")
    return blurhash.encode(rgb, BLURHASH_COMPONENTS)
