"""BlurHash: a ~30-character placeholder an app can paint before the thumbnail arrives.

The image's colours in linear light are projected onto a few cosine patterns (``components`` across
and down); the average colour and the pattern weights are quantised and written in base 83. This
encoder works on a tiny copy (a few hundred pixels), so plain Python is fast enough, and it reads
pixels through ``Image.tobytes`` rather than the deprecated ``getdata``.
"""

from __future__ import annotations

import math

from PIL import Image

_BASE83 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~"
# sRGB byte -> linear light, computed once.
_LINEAR = [((value / 255) / 12.92) if value <= 10 else (((value / 255) + 0.055) / 1.055) ** 2.4 for value in range(256)]


def _base83(value: int, length: int) -> str:
    return "".join(_BASE83[(value // 83 ** (length - 1 - place)) % 83] for place in range(length))


def _to_srgb_byte(linear: float) -> int:
    clamped = max(0.0, min(1.0, linear))
    srgb = clamped * 12.92 if clamped <= 0.0031308 else 1.055 * clamped ** (1 / 2.4) - 0.055
    return int(srgb * 255 + 0.5)


def _signed_sqrt(value: float) -> float:
    return math.copysign(abs(value) ** 0.5, value)


def encode(image: Image.Image, components: tuple[int, int] = (4, 3)) -> str:
    """The BlurHash of an RGB image with ``components`` (across, down), each from 1 to 9."""
    across, down = components
    width, height = image.size
    data = image.convert("RGB").tobytes()
    pixels = [(_LINEAR[data[i]], _LINEAR[data[i + 1]], _LINEAR[data[i + 2]]) for i in range(0, len(data), 3)]
    cos_x = [[math.cos(math.pi * i * x / width) for x in range(width)] for i in range(across)]
    cos_y = [[math.cos(math.pi * j * y / height) for y in range(height)] for j in range(down)]

    factors: list[tuple[float, float, float]] = []
    for j in range(down):
        for i in range(across):
            red = green = blue = 0.0
            for y in range(height):
                row, weight_y = y * width, cos_y[j][y]
                for x in range(width):
                    weight = cos_x[i][x] * weight_y
                    r, g, b = pixels[row + x]
                    red += weight * r
                    green += weight * g
                    blue += weight * b
            scale = (1 if i == 0 and j == 0 else 2) / (width * height)
            factors.append((red * scale, green * scale, blue * scale))

    dc, ac = factors[0], factors[1:]
    text = _base83((across - 1) + (down - 1) * 9, 1)
    if ac:
        quantised_max = max(0, min(82, int(max(abs(v) for f in ac for v in f) * 166 - 0.5)))
        maximum = (quantised_max + 1) / 166
        text += _base83(quantised_max, 1)
    else:
        maximum = 1.0
        text += _base83(0, 1)
    text += _base83((_to_srgb_byte(dc[0]) << 16) + (_to_srgb_byte(dc[1]) << 8) + _to_srgb_byte(dc[2]), 4)
    for factor in ac:
        r, g, b = (max(0, min(18, int(_signed_sqrt(v / maximum) * 9 + 9.5))) for v in factor)
        text += _base83(r * 19 * 19 + g * 19 + b, 2)
    return text
