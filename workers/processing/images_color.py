"""Pixel formats and colour for derivatives: every input mode ends as L, RGB or RGBA in sRGB.

All of this runs on the reduced image, never at full size: a colour transform or a mode conversion
costs time and memory in proportion to the pixels it touches.
"""

from __future__ import annotations

import io
import logging
from functools import lru_cache

from PIL import Image, ImageCms

log = logging.getLogger(__name__)

ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
# Palette and bilevel pixels are indices or single bits: resampling them needs real colours first.
MODES_TO_CONVERT_BEFORE_RESIZING = frozenset({"P", "PA", "1"})
GREYSCALE_MODES = frozenset({"L", "1", "I", "F", "I;16", "I;16L", "I;16B", "I;16N"})
SIXTEEN_BIT_FULL_SCALE = 65535
WHITE = (255, 255, 255)


def has_alpha(image: Image.Image) -> bool:
    return image.mode in ALPHA_MODES or (image.mode == "P" and "transparency" in image.info)


def prepare_for_resizing(image: Image.Image, keep_alpha: bool) -> Image.Image:
    """Palette and bilevel images become RGB(A) or L; everything else resizes as it is."""
    if image.mode not in MODES_TO_CONVERT_BEFORE_RESIZING:
        return image
    if keep_alpha:
        return image.convert("RGBA")
    return image.convert("L" if image.mode == "1" else "RGB")


def to_eight_bit(image: Image.Image) -> Image.Image:
    """16-bit and 32-bit greyscale scaled into 0-255; a plain ``convert("L")`` would clip them to white."""
    if image.mode.startswith("I;16"):
        low, high = 0.0, float(SIXTEEN_BIT_FULL_SCALE)
        image = image.convert("I")
    elif image.mode in ("I", "F"):
        low, high = _full_scale_range(image)
    else:
        return image
    scale = 255 / (high - low) if high > low else 1.0
    # point() with a linear function runs in C and keeps the 32-bit mode; convert("L") then rounds.
    return image.point(lambda value: (value - low) * scale).convert("L")


def _full_scale_range(image: Image.Image) -> tuple[float, float]:
    """The range a 32-bit image's values were meant in: 8-bit, 16-bit, 0-1 floats, or else their own extrema."""
    low, high = image.getextrema()
    assert isinstance(low, int | float) and isinstance(high, int | float)
    if low >= 0:
        for full_scale in (1.0, 255.0, float(SIXTEEN_BIT_FULL_SCALE)):
            if high <= full_scale and (full_scale != 1.0 or image.mode == "F"):
                return 0.0, full_scale
    return float(low), float(high)


def to_srgb(image: Image.Image, icc_profile: bytes | None) -> Image.Image:
    """Convert RGB(A) and CMYK pixels from their embedded profile to sRGB; anything else is left alone."""
    if not icc_profile or image.mode not in ("RGB", "RGBA", "CMYK"):
        return image
    transform = _transform_to_srgb(icc_profile, image.mode)
    if transform is None:
        return image
    try:
        return ImageCms.applyTransform(image, transform) or image
    except (ImageCms.PyCMSError, ValueError, OSError) as error:
        log.info("colour profile not applied: %s", error)
        return image


@lru_cache(maxsize=8)
def _transform_to_srgb(icc_profile: bytes, mode: str) -> ImageCms.ImageCmsTransform | None:
    """Cached: photos from one camera share a profile, and building a transform costs more than applying it."""
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc_profile))
        expected_space = "CMYK" if mode == "CMYK" else "RGB"
        if source.profile.xcolor_space.strip() != expected_space:
            return None
        return ImageCms.buildTransform(
            source,
            _srgb(),
            mode,
            "RGBA" if mode == "RGBA" else "RGB",
            renderingIntent=ImageCms.Intent.PERCEPTUAL,
            # Without lcms's one-pixel cache a transform is safe to share between worker threads.
            flags=ImageCms.Flags.NOCACHE,
        )
    except (ImageCms.PyCMSError, ValueError, OSError) as error:
        log.info("colour profile ignored: %s", error)
        return None


@lru_cache(maxsize=1)
def _srgb() -> ImageCms.ImageCmsProfile:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))


def for_output(image: Image.Image, keep_alpha: bool) -> Image.Image:
    """RGBA when keeping transparency; otherwise RGB or L, which every viewer shows."""
    if keep_alpha:
        return image if image.mode == "RGBA" else image.convert("RGBA")
    if image.mode in ALPHA_MODES:
        return flatten_onto_white(image)
    if image.mode in ("RGB", "L"):
        return image
    return image.convert("L" if image.mode in GREYSCALE_MODES else "RGB")


def flatten_onto_white(image: Image.Image) -> Image.Image:
    """Transparent pixels shown as on a white page: the deliberate choice for formats without alpha."""
    rgba = image if image.mode == "RGBA" else image.convert("RGBA")
    flattened = Image.new("RGB", rgba.size, WHITE)
    flattened.paste(rgba, mask=rgba.getchannel("A"))
    return flattened
