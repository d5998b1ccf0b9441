"""Images with Pillow: validate by decoding, record dimensions and useful EXIF, write thumbnails.

Decoding happens once: the image is reduced to the largest thumbnail (JPEG draft decoding makes that
fast for big photos) and the smaller sizes are derived from that. Orientation is applied to each
thumbnail after it is reduced, because transposing first forces a full-size decode.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from PIL import Image, UnidentifiedImageError

from workers.processing.errors import PermanentProcessingError

ORIENTATION_TAG = 0x0112
_EXIF_IFD = 0x8769
# Transposition that turns a stored image upright, by EXIF orientation value.
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_EXIF_FIELDS = {0x010F: "camera_make", 0x0110: "camera_model", 0x0132: "modified_at"}
_EXIF_IFD_FIELDS = {0x9003: "taken_at", 0xA434: "lens_model"}
THUMBNAIL_JPEG_QUALITY = 85
THUMBNAIL_WEBP_QUALITY = 80


@dataclass
class ImageResult:
    width: int
    height: int
    format: str
    mime: str
    details: dict[str, Any] = field(default_factory=dict)
    derivatives: list[str] = field(default_factory=list)


def _open(source: BinaryIO, max_pixels: int) -> Image.Image:
    try:
        image = Image.open(source)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as bomb:
        raise PermanentProcessingError(f"refused: {bomb}") from None
    except UnidentifiedImageError:
        raise PermanentProcessingError("not an image Pillow can read") from None
    except (OSError, ValueError, SyntaxError) as error:
        raise PermanentProcessingError(f"unreadable image: {error}") from None
    width, height = image.size
    if width * height > max_pixels:
        image.close()
        raise PermanentProcessingError(
            f"refused: {width}x{height} is {width * height} pixels, more than the limit of {max_pixels}"
        )
    return image


def _exif_details(image: Image.Image) -> tuple[int, dict[str, Any]]:
    exif = image.getexif()
    orientation = exif.get(ORIENTATION_TAG, 1)
    if orientation not in range(1, 9):
        orientation = 1
    details: dict[str, Any] = {}
    for tag, name in _EXIF_FIELDS.items():
        if tag in exif:
            details[name] = str(exif[tag]).strip("\x00 ")
    sub_ifd = exif.get_ifd(_EXIF_IFD)
    for tag, name in _EXIF_IFD_FIELDS.items():
        if tag in sub_ifd:
            details[name] = str(sub_ifd[tag]).strip("\x00 ")
    return orientation, details


def _has_alpha(image: Image.Image) -> bool:
    return image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (image.mode == "P" and "transparency" in image.info)


def _for_output(image: Image.Image, keep_alpha: bool) -> Image.Image:
    """RGBA when keeping transparency; otherwise RGB or greyscale, which every viewer shows."""
    if keep_alpha:
        return image if image.mode == "RGBA" else image.convert("RGBA")
    return image if image.mode in ("RGB", "L") else image.convert("RGB")


def _decode_reduced(image: Image.Image, longest_side: int, keep_alpha: bool) -> Image.Image:
    """Decode the (first) frame, reduced to ``longest_side``: the proof that the image decodes at all."""
    if image.mode in ("P", "PA", "1"):
        # Palette and bilevel images resize only with nearest-neighbour; convert them first.
        converted = image.convert("RGBA" if keep_alpha else "RGB")
        converted.thumbnail((longest_side, longest_side))
        return converted
    # thumbnail() asks the JPEG decoder for a draft at a fraction of the full size. It skips
    # decoding when the image is already small enough, hence the explicit load().
    image.thumbnail((longest_side, longest_side))
    image.load()
    reduced = _for_output(image, keep_alpha)
    # A detached copy: the caller closes ``image`` and its file.
    return reduced.copy() if reduced is image else reduced


def _save_atomically(image: Image.Image, path: Path, keep_alpha: bool) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    if keep_alpha:
        image.save(temporary, "WEBP", quality=THUMBNAIL_WEBP_QUALITY)
    else:
        image.save(temporary, "JPEG", quality=THUMBNAIL_JPEG_QUALITY, progressive=True)
    os.replace(temporary, path)


def process_image(source: BinaryIO, output_dir: Path, sizes: tuple[int, ...], max_pixels: int) -> ImageResult:
    """Validate ``source`` by decoding it and write one thumbnail per size (longest side) to ``output_dir``."""
    with _open(source, max_pixels) as image:
        stored_width, stored_height = image.size
        orientation, details = _exif_details(image)
        upright_swaps_sides = orientation in (5, 6, 7, 8)
        width, height = (stored_height, stored_width) if upright_swaps_sides else (stored_width, stored_height)
        keep_alpha = _has_alpha(image)
        frames = getattr(image, "n_frames", 1)
        details.update({"mode": image.mode, "has_alpha": keep_alpha, "frames": frames, "orientation": orientation})
        image_format = image.format or "unknown"
        mime = Image.MIME.get(image_format, "application/octet-stream")

        try:
            reduced = _decode_reduced(image, max(sizes), keep_alpha)
        except (OSError, ValueError, SyntaxError) as error:
            raise PermanentProcessingError(f"corrupt image: {error}") from None

    output_dir.mkdir(parents=True, exist_ok=True)
    names: list[str] = []
    extension = "webp" if keep_alpha else "jpg"
    for size in sorted(sizes, reverse=True):
        thumbnail = reduced.copy()
        thumbnail.thumbnail((size, size))
        if orientation in _UPRIGHT:
            thumbnail = thumbnail.transpose(_UPRIGHT[orientation])
        name = f"thumb_{size}.{extension}"
        _save_atomically(thumbnail, output_dir / name, keep_alpha)
        names.append(name)
    return ImageResult(width=width, height=height, format=image_format, mime=mime, details=details, derivatives=names)
