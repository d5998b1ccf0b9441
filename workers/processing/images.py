"""Images with Pillow: validate by decoding, record what the image says about itself, write derivatives.

Decoding happens once: the image is reduced to the largest derivative (JPEG draft decoding does most of
that for big photos, Pillow's ``reducing_gap`` most of the rest) and every smaller size is derived from
that reduction. Colour conversion, mode conversion and orientation all run on the reduction, because at
full size they would force a full decode and cost memory in proportion to the megapixels.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import pillow_heif
from PIL import Image, UnidentifiedImageError

from workers.processing.errors import PermanentProcessingError
from workers.processing.images_color import (
    flatten_onto_white,
    for_output,
    has_alpha,
    prepare_for_resizing,
    to_eight_bit,
    to_srgb,
)
from workers.processing.images_metadata import ORIENTATION_TAG as ORIENTATION_TAG
from workers.processing.images_metadata import (
    animation_details,
    blurhash_of,
    exif_details,
    icc_description,
    orientation_of,
)

if TYPE_CHECKING:
    from workers.processing import ProcessingOptions

# HEIC/HEIF (iPhone photos) through libheif; registering once is enough for every Image.open.
pillow_heif.register_heif_opener()

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
THUMBNAIL_JPEG_QUALITY = 85
THUMBNAIL_WEBP_QUALITY = 80
# JPEG draft decoding scales by 1/2, 1/4 or 1/8 in the DCT, keeping at least this multiple of the target.
# 1.0 takes the smallest scale that still covers the target, as vipsthumbnail's shrink-on-load does.
DRAFT_REDUCING_GAP = 1.0
# Pillow first reduces by an integer factor (a fast box filter) down to this multiple of the target,
# then resamples properly; 2.0 is indistinguishable from a full resample and several times faster.
RESIZE_REDUCING_GAP = 2.0
RESAMPLING = Image.Resampling.LANCZOS
WEB_VERSION_NAME = "web"


@dataclass
class ImageResult:
    width: int
    height: int
    format: str
    mime: str
    details: dict[str, Any] = field(default_factory=dict)
    derivatives: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Derivative:
    stem: str  # the file name without extension: ``thumb_256``, ``web``
    longest_side: int


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


def fitted_size(size: tuple[int, int], longest_side: int) -> tuple[int, int]:
    """``size`` scaled so its longest side is at most ``longest_side``, keeping the aspect; never enlarged."""
    width, height = size
    scale = longest_side / max(width, height)
    if scale >= 1:
        return size
    return max(1, round(width * scale)), max(1, round(height * scale))


def shrink(image: Image.Image, longest_side: int) -> Image.Image:
    target = fitted_size(image.size, longest_side)
    if target == image.size:
        return image
    return image.resize(target, RESAMPLING, reducing_gap=RESIZE_REDUCING_GAP)


def _decode_reduced(image: Image.Image, longest_side: int, keep_alpha: bool) -> Image.Image:
    """Decode the (first) frame, reduced to ``longest_side``: the proof that the image decodes at all."""
    target_width, target_height = fitted_size(image.size, longest_side)
    # The draft is asked for with the image's own aspect: a square request would be limited by the
    # short side and, for a landscape photo, often skip the 1/2 scale that it could have taken.
    image.draft(None, (int(target_width * DRAFT_REDUCING_GAP), int(target_height * DRAFT_REDUCING_GAP)))
    image.load()  # decode errors surface here, whether or not the image needs reducing
    decoded = prepare_for_resizing(image, keep_alpha)
    reduced = shrink(decoded, longest_side)
    # A detached copy: the caller closes ``image`` and its file.
    return reduced.copy() if reduced is image else reduced


def _upright(reduced: Image.Image, icc_profile: bytes | None, orientation: int, keep_alpha: bool) -> Image.Image:
    """The reduction in sRGB, as 8-bit L, RGB or RGBA, turned upright."""
    converted = for_output(to_srgb(to_eight_bit(reduced), icc_profile), keep_alpha)
    return converted.transpose(_UPRIGHT[orientation]) if orientation in _UPRIGHT else converted


def output_format(derivative_format: str, keep_alpha: bool) -> str:
    """Pillow's format name for ``auto``, ``jpeg`` or ``webp``; ``auto`` keeps transparency in WebP."""
    if derivative_format == "webp" or (derivative_format == "auto" and keep_alpha):
        return "WEBP"
    return "JPEG"


def save_derivative(image: Image.Image, path: Path, image_format: str) -> None:
    """Written to a temp name and renamed, so a reader never sees half a file; no EXIF, no ICC profile."""
    temporary = path.with_name(f".{path.name}.tmp")
    if image_format == "WEBP":
        image.save(temporary, "WEBP", quality=THUMBNAIL_WEBP_QUALITY)
    else:
        opaque = flatten_onto_white(image) if "A" in image.mode else image
        opaque.save(temporary, "JPEG", quality=THUMBNAIL_JPEG_QUALITY, progressive=True)
    os.replace(temporary, path)


def _save_atomically(image: Image.Image, path: Path, keep_alpha: bool) -> None:
    """WebP when keeping transparency, else progressive JPEG (kept for callers outside this module)."""
    save_derivative(image, path, "WEBP" if keep_alpha else "JPEG")


def _derivative_plan(options: ProcessingOptions) -> list[Derivative]:
    """Largest first, so each size is derived from the one before it."""
    plan = [Derivative(f"thumb_{size}", size) for size in options.thumbnail_sizes]
    plan.append(Derivative(WEB_VERSION_NAME, options.web_size))
    return sorted(plan, key=lambda derivative: derivative.longest_side, reverse=True)


def _write_derivatives(
    upright: Image.Image, plan: list[Derivative], output_dir: Path, image_format: str
) -> tuple[list[str], Image.Image]:
    """Each derivative shrunk from the previous, larger one; returns the names and the smallest image."""
    output_dir.mkdir(parents=True, exist_ok=True)
    extension = "webp" if image_format == "WEBP" else "jpg"
    names: list[str] = []
    current = upright
    for derivative in plan:
        current = shrink(current, derivative.longest_side)
        name = f"{derivative.stem}.{extension}"
        save_derivative(current, output_dir / name, image_format)
        names.append(name)
    return names, current


def process_image(source: BinaryIO, output_dir: Path, options: ProcessingOptions) -> ImageResult:
    """Validate ``source`` by decoding it and write its thumbnails and web version to ``output_dir``."""
    plan = _derivative_plan(options)
    with _open(source, options.max_image_pixels) as image:
        stored_size = image.size  # before draft decoding shrinks it
        keep_alpha = has_alpha(image)
        icc_profile = image.info.get("icc_profile")
        image_format = image.format or "unknown"
        details: dict[str, Any] = {"format": image_format, "mode": image.mode, "has_alpha": keep_alpha}
        # Any failure from here to the decoded reduction is the file's fault: permanent, never retried.
        try:
            orientation = orientation_of(image)
            details["icc"] = icc_description(icc_profile)
            details.update(exif_details(image, options.keep_gps))
            details.update(animation_details(image, options.max_image_pixels))
            reduced = _decode_reduced(image, plan[0].longest_side, keep_alpha)
        except (OSError, ValueError, SyntaxError, EOFError) as error:
            raise PermanentProcessingError(f"corrupt image: {error}") from None

    derivative_format = output_format(options.derivative_format, keep_alpha)
    try:
        # Flattened once here rather than at every save when the format has no alpha.
        upright = _upright(reduced, icc_profile, orientation, keep_alpha and derivative_format == "WEBP")
    except (OSError, ValueError) as error:
        raise PermanentProcessingError(f"unsupported pixel format {details['mode']}: {error}") from None
    names, smallest = _write_derivatives(upright, plan, output_dir, derivative_format)
    width, height = _upright_size(stored_size, orientation)
    details.update({"width": width, "height": height, "blurhash": blurhash_of(smallest)})
    mime = Image.MIME.get(image_format, "application/octet-stream")
    return ImageResult(width=width, height=height, format=image_format, mime=mime, details=details, derivatives=names)


def _upright_size(stored: tuple[int, int], orientation: int) -> tuple[int, int]:
    width, height = stored
    return (height, width) if orientation in (5, 6, 7, 8) else (width, height)
