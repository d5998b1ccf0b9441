"""Our BlurHash encoder gives the reference implementation's strings, byte for byte."""

from __future__ import annotations

import warnings

import blurhash as reference
import pytest
from PIL import Image

from tests.servers import TESTDATA_MEDIA
from workers.processing import blurhash


def _tiny(filename: str) -> Image.Image:
    with Image.open(TESTDATA_MEDIA / filename) as image:
        tiny = image.convert("RGB")
    tiny.thumbnail((32, 32))
    return tiny


@pytest.mark.parametrize("filename", ["hopper.jpg", "portrait_orientation_6.jpg", "pil_sample_cmyk.jpg"])
@pytest.mark.parametrize("components", [(4, 3), (1, 1), (9, 9), (3, 5)])
def test_encoding_matches_the_reference_implementation(filename: str, components: tuple[int, int]) -> None:
    image = _tiny(filename)
    with warnings.catch_warnings():
        # The reference reads pixels with Image.getdata(), which Pillow deprecates.
        warnings.simplefilter("ignore", DeprecationWarning)
        expected = reference.encode(image.copy(), *components)  # it closes the image it is given

    assert blurhash.encode(image, components) == expected


def test_a_flat_colour_has_no_detail() -> None:
    encoded = blurhash.encode(Image.new("RGB", (8, 8), (255, 0, 0)), (1, 1))

    assert reference.decode(encoded, 2, 2).getpixel((0, 0)) == (255, 0, 0)
