"""The pure image pipeline on the shared test media, without server, broker or database."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from tests.servers import TESTDATA_MEDIA
from workers.processing import DetectedButFailed, ProcessingOptions, TypeNotAllowed, process_media_file
from workers.processing.sniff import detect_type

OPTIONS = ProcessingOptions(thumbnail_sizes=(64, 256), max_image_pixels=100_000_000)


def _process(filename: str, output: Path):
    with (TESTDATA_MEDIA / filename).open("rb") as source:
        return process_media_file(source, output, OPTIONS)


@pytest.mark.parametrize(
    ("filename", "mime"),
    [
        ("hopper.jpg", "image/jpeg"),
        ("hopper.png", "image/png"),
        ("hopper.webp", "image/webp"),
        ("hopper.avif", "image/avif"),
        ("iss634.gif", "image/gif"),
        ("decompression_bomb.gif", "image/gif"),
    ],
)
def test_type_is_detected_from_the_bytes(filename: str, mime: str) -> None:
    with (TESTDATA_MEDIA / filename).open("rb") as source:
        assert detect_type(source).mime == mime


def test_orientation_6_records_upright_size_and_writes_upright_thumbnails(tmp_path: Path) -> None:
    result = _process("portrait_orientation_6.jpg", tmp_path)

    assert (result.width, result.height) == (480, 640)
    assert result.details["orientation"] == 6
    assert (result.details["camera_make"], result.details["camera_model"]) == ("TestCam", "Model 6")
    with Image.open(tmp_path / "thumb_256.jpg") as thumbnail:
        assert thumbnail.size == (192, 256)
        assert thumbnail.getpixel((150, 128))[0] > 200  # red on the right
        assert thumbnail.getpixel((40, 128))[2] > 200  # blue on the left


def test_small_image_is_not_upscaled(tmp_path: Path) -> None:
    _process("hopper.jpg", tmp_path)

    with Image.open(tmp_path / "thumb_256.jpg") as large, Image.open(tmp_path / "thumb_64.jpg") as small:
        assert (large.size, small.size) == ((128, 128), (64, 64))


def test_derivatives_of_a_gps_photo_carry_no_exif(tmp_path: Path) -> None:
    with Image.open(TESTDATA_MEDIA / "exif_gps.jpg") as original:
        assert original.getexif().get_ifd(0x8825), "the fixture should carry GPS data"

    result = _process("exif_gps.jpg", tmp_path)

    for name in result.derivatives:
        with Image.open(tmp_path / name) as derivative:
            assert not derivative.getexif()
            assert b"GPS" not in (tmp_path / name).read_bytes()


def test_cmyk_becomes_rgb_and_alpha_is_kept(tmp_path: Path) -> None:
    _process("pil_sample_cmyk.jpg", tmp_path / "cmyk")
    rgba = _process("pil123rgba.png", tmp_path / "rgba")

    with Image.open(tmp_path / "cmyk" / "thumb_64.jpg") as thumbnail:
        assert thumbnail.mode == "RGB"
    assert rgba.details["has_alpha"]
    with Image.open(tmp_path / "rgba" / "thumb_64.webp") as thumbnail:
        assert thumbnail.mode == "RGBA"


@pytest.mark.parametrize(
    ("filename", "reason"),
    [
        ("truncated_jpeg.jpg", "corrupt image: image file is truncated"),
        ("decompression_bomb.gif", "refused"),
        ("png_decompression_dos.png", "unreadable image: Decompressed data too large"),
    ],
)
def test_broken_and_hostile_images_fail_permanently_with_one_line_and_no_derivatives(
    tmp_path: Path, filename: str, reason: str
) -> None:
    with pytest.raises(DetectedButFailed) as failure:
        _process(filename, tmp_path / "out")

    assert str(failure.value).startswith(reason)
    assert "\n" not in str(failure.value)
    assert failure.value.detected_type.startswith("image/")
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_pixel_limit_is_checked_before_decoding(tmp_path: Path) -> None:
    options = ProcessingOptions(thumbnail_sizes=(64,), max_image_pixels=100 * 100 - 1)

    with (TESTDATA_MEDIA / "hopper.jpg").open("rb") as source, pytest.raises(DetectedButFailed, match="limit of 9999"):
        process_media_file(source, tmp_path, options)


def test_file_of_an_allowed_other_type_is_recorded_with_its_size(tmp_path: Path) -> None:
    document = tmp_path / "notes.txt"
    document.write_bytes(b"just some text\n")
    anything = ProcessingOptions(thumbnail_sizes=(64,), max_image_pixels=10**8, allowed_types=("*",))

    with document.open("rb") as source:
        result = process_media_file(source, tmp_path / "out", anything)

    assert (result.detected_type, result.details["size"], result.derivatives) == ("application/octet-stream", 15, [])


def test_types_outside_the_allow_list_are_refused_by_default(tmp_path: Path) -> None:
    document = tmp_path / "notes.pdf"
    document.write_bytes(b"%PDF-1.7 not really")

    with document.open("rb") as source, pytest.raises(TypeNotAllowed, match="type not allowed: application/pdf"):
        process_media_file(source, tmp_path / "out", OPTIONS)
