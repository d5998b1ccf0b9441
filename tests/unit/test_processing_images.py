"""The pure image pipeline on the test media of tests/data/media, without server, broker or database."""

from __future__ import annotations

import io
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import blurhash
import pytest
from PIL import Image, ImageChops, ImageCms, ImageStat, TiffImagePlugin

from tests.servers import TESTDATA_MEDIA
from workers.processing import (
    DetectedButFailed,
    ProcessingOptions,
    ProcessingResult,
    TypeNotAllowed,
)
from workers.processing.images_color import prepare_for_resizing, to_eight_bit
from workers.processing.pipeline import process_media_file
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


# --- Formats, modes, colour, derivatives and metadata of the deeper pipeline ---------------------------

RED, BLUE = (255, 0, 0), (0, 0, 255)


def _process_image(image_path: Path, output: Path, **overrides: Any) -> ProcessingResult:
    options = replace(OPTIONS, **overrides)
    with image_path.open("rb") as source:
        return process_media_file(source, output, options)


def _red_top_blue_bottom(width: int, height: int) -> Image.Image:
    image = Image.new("RGB", (width, height), RED)
    image.paste(BLUE, (0, height // 2, width, height))
    return image


def _half_transparent(mode: str = "RGBA") -> Image.Image:
    """Opaque red on the left, fully transparent on the right."""
    image = Image.new("RGBA", (200, 100), (*RED, 255))
    image.paste((0, 0, 0, 0), (100, 0, 200, 100))
    return image.convert(mode)


def _horizontal_gradient_16_bit(full_value: int) -> Image.Image:
    """0 on the left rising to ``full_value`` on the right, as a 16-bit greyscale image."""
    ramp = Image.linear_gradient("L").rotate(90, expand=True).resize((512, 64))
    return ramp.convert("I").point(lambda value: value * full_value / 255).convert("I;16")


def _jpeg_with_exif(path: Path, orientation: int = 1) -> Path:
    exif = Image.Exif()
    exif.update({0x010F: "PhotoCorp", 0x0110: "Shooter X", 0x0112: orientation})
    exif.get_ifd(0x8769).update(
        {
            0x9003: "2024:05:17 14:03:59",
            0x9011: "+02:00",
            0xA434: "35mm F1.4",
            0x829A: TiffImagePlugin.IFDRational(1, 250),
            0x829D: TiffImagePlugin.IFDRational(28, 10),
            0x8827: 400,
            0x920A: TiffImagePlugin.IFDRational(35, 1),
        }
    )
    # 48° 51' 29.6" N, 2° 17' 40.2" E: the Eiffel Tower.
    exif.get_ifd(0x8825).update(
        {
            1: "N",
            2: (TiffImagePlugin.IFDRational(48), TiffImagePlugin.IFDRational(51), TiffImagePlugin.IFDRational(296, 10)),
            3: "E",
            4: (TiffImagePlugin.IFDRational(2), TiffImagePlugin.IFDRational(17), TiffImagePlugin.IFDRational(402, 10)),
        }
    )
    _red_top_blue_bottom(64, 48).save(path, "JPEG", exif=exif)
    return path


def _open_derivative(output: Path, name: str) -> Image.Image:
    with Image.open(output / name) as derivative:
        derivative.load()
        return derivative


def test_heic_from_a_phone_is_read_upright_with_its_orientation_applied(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif.update({0x010F: "PhoneMaker", 0x0112: 6})
    # pillow-heif stores the EXIF rotation as the HEIF transform, as phones do; decoders apply it.
    _red_top_blue_bottom(640, 480).save(tmp_path / "photo.heic", "HEIF", exif=exif.tobytes(), quality=90)

    with (tmp_path / "photo.heic").open("rb") as source:
        assert detect_type(source).mime == "image/heic"
    result = _process_image(tmp_path / "photo.heic", tmp_path / "out")

    assert (result.format, result.width, result.height) == ("HEIF", 480, 640)
    assert (result.details["orientation"], result.details["camera_make"]) == (6, "PhoneMaker")
    thumbnail = _open_derivative(tmp_path / "out", "thumb_256.jpg")
    assert thumbnail.size == (192, 256)
    assert thumbnail.getpixel((150, 128))[0] > 200  # red on the right: turned exactly once
    assert thumbnail.getpixel((40, 128))[2] > 200


@pytest.mark.parametrize(("full_value", "expected_brightest"), [(65535, 255), (32767, 127)])
def test_16_bit_greyscale_is_scaled_to_8_bit_in_proportion_not_clipped(
    tmp_path: Path, full_value: int, expected_brightest: int
) -> None:
    _horizontal_gradient_16_bit(full_value).save(tmp_path / "deep.png")

    result = _process_image(tmp_path / "deep.png", tmp_path / "out")

    assert result.details["mode"] == "I;16"
    thumbnail = _open_derivative(tmp_path / "out", "thumb_256.jpg").convert("L")
    darkest, brightest = thumbnail.getextrema()
    assert darkest <= 8
    assert abs(brightest - expected_brightest) <= 8
    middle = thumbnail.getpixel((thumbnail.width // 2, thumbnail.height // 2))
    assert abs(middle - expected_brightest / 2) <= 12


@pytest.mark.parametrize(
    ("mode", "values", "expected"),
    [
        ("I;16B", (0, 32768, 65535), (0, 128, 255)),
        ("I", (0, 128, 255), (0, 128, 255)),  # already 8-bit values: unchanged
        ("I", (0, 1000, 4000), (0, 4, 16)),  # 16-bit range
        ("F", (0.0, 0.5, 1.0), (0, 128, 255)),  # 0-1 floats
    ],
)
def test_to_eight_bit_keeps_proportions_per_mode(
    mode: str, values: tuple[float, ...], expected: tuple[int, ...]
) -> None:
    image = Image.new(mode, (len(values), 1))
    for x, value in enumerate(values):
        image.putpixel((x, 0), value)

    converted = to_eight_bit(image)

    assert converted.mode == "L"
    assert [converted.getpixel((x, 0)) for x in range(len(values))] == pytest.approx(list(expected), abs=1)


@pytest.mark.parametrize("mode", ["LA", "P"])
def test_greyscale_and_palette_transparency_is_kept_in_webp(tmp_path: Path, mode: str) -> None:
    source = _half_transparent("RGBA")
    if mode == "P":
        source = source.convert("RGB").quantize(colors=4)
        source.info["transparency"] = source.getpixel((150, 50))  # the right half's index
    else:
        source = source.convert(mode)
    source.save(tmp_path / "alpha.png")

    result = _process_image(tmp_path / "alpha.png", tmp_path / "out")

    assert result.details["has_alpha"]
    assert result.derivatives == ["web.webp", "thumb_256.webp", "thumb_64.webp"]
    thumbnail = _open_derivative(tmp_path / "out", "thumb_256.webp")
    assert thumbnail.mode == "RGBA"
    assert thumbnail.getpixel((150, 50))[3] == 0
    assert thumbnail.getpixel((40, 50))[3] == 255


def test_palette_with_alpha_becomes_rgba_before_resizing() -> None:
    palette_alpha = _half_transparent().convert("PA")

    prepared = prepare_for_resizing(palette_alpha, keep_alpha=True)

    assert prepared.mode == "RGBA"
    assert (prepared.getpixel((40, 50)), prepared.getpixel((150, 50))[3]) == ((*RED, 255), 0)


def test_jpeg_derivative_format_flattens_transparency_onto_white(tmp_path: Path) -> None:
    _half_transparent().save(tmp_path / "alpha.png")

    result = _process_image(tmp_path / "alpha.png", tmp_path / "out", derivative_format="jpeg")

    assert sorted(result.derivatives) == ["thumb_256.jpg", "thumb_64.jpg", "web.jpg"]
    thumbnail = _open_derivative(tmp_path / "out", "thumb_256.jpg")
    assert thumbnail.mode == "RGB"
    assert min(thumbnail.getpixel((160, 50))) > 245, "transparent becomes white"
    red, green, blue = thumbnail.getpixel((40, 50))
    assert red > 240 and green < 20 and blue < 20, "opaque pixels stay as they were"


def test_webp_derivative_format_keeps_alpha_and_serves_opaque_images_too(tmp_path: Path) -> None:
    _half_transparent().save(tmp_path / "alpha.png")

    transparent = _process_image(tmp_path / "alpha.png", tmp_path / "alpha", derivative_format="webp")
    opaque = _process_image(TESTDATA_MEDIA / "hopper.jpg", tmp_path / "opaque", derivative_format="webp")

    assert _open_derivative(tmp_path / "alpha", "thumb_256.webp").getpixel((160, 50))[3] == 0
    assert transparent.derivatives == ["web.webp", "thumb_256.webp", "thumb_64.webp"]
    assert opaque.derivatives == ["web.webp", "thumb_256.webp", "thumb_64.webp"]
    assert _open_derivative(tmp_path / "opaque", "thumb_256.webp").mode == "RGB"


def test_embedded_colour_profile_is_converted_to_srgb_and_not_embedded(tmp_path: Path) -> None:
    with Image.open(TESTDATA_MEDIA / "icc_profile_big.jpg") as original:
        profile = original.info["icc_profile"]
        naive = original.convert("RGB")
        converted = ImageCms.profileToProfile(
            original, ImageCms.ImageCmsProfile(io.BytesIO(profile)), ImageCms.createProfile("sRGB")
        )
    assert converted is not None

    result = _process_image(TESTDATA_MEDIA / "icc_profile_big.jpg", tmp_path, web_size=1000)

    assert result.details["icc"] == "TIFF RGB"
    for name in result.derivatives:
        assert "icc_profile" not in _open_derivative(tmp_path, name).info
    web = _open_derivative(tmp_path, "web.jpg")  # full size: comparable pixel for pixel
    assert web.size == naive.size
    green_error = ImageStat.Stat(ImageChops.difference(web, converted)).mean[1]
    green_error_unconverted = ImageStat.Stat(ImageChops.difference(web, naive)).mean[1]
    assert green_error < 4 < green_error_unconverted


def test_web_version_fits_the_web_size_and_smaller_images_are_never_upscaled(tmp_path: Path) -> None:
    _red_top_blue_bottom(3000, 2000).save(tmp_path / "large.jpg", quality=90)

    large = _process_image(tmp_path / "large.jpg", tmp_path / "large", web_size=1000)
    small = _process_image(TESTDATA_MEDIA / "hopper.jpg", tmp_path / "small", web_size=1000)

    assert large.derivatives == ["web.jpg", "thumb_256.jpg", "thumb_64.jpg"]
    assert _open_derivative(tmp_path / "large", "web.jpg").size == (1000, 667)
    assert _open_derivative(tmp_path / "large", "thumb_256.jpg").size == (256, 171)
    assert _open_derivative(tmp_path / "large", "thumb_64.jpg").size == (64, 43)
    assert (large.width, large.height) == (3000, 2000)
    assert small.derivatives == ["web.jpg", "thumb_256.jpg", "thumb_64.jpg"]
    assert _open_derivative(tmp_path / "small", "web.jpg").size == (128, 128)


def test_derivatives_are_progressive_jpeg_without_metadata(tmp_path: Path) -> None:
    result = _process_image(_jpeg_with_exif(tmp_path / "exif.jpg"), tmp_path / "out")

    for name in result.derivatives:
        derivative = _open_derivative(tmp_path / "out", name)
        assert derivative.info.get("progressive") or derivative.info.get("progression")
        assert not derivative.getexif()
        assert "icc_profile" not in derivative.info


def test_blurhash_is_a_valid_4_by_3_hash_of_the_picture(tmp_path: Path) -> None:
    result = _process_image(TESTDATA_MEDIA / "portrait_orientation_6.jpg", tmp_path)

    placeholder = result.details["blurhash"]
    assert blurhash.is_valid_blurhash(placeholder)
    assert len(placeholder) == 4 + 2 * 4 * 3  # size flag, maximum, DC and 11 AC components
    preview = blurhash.decode(placeholder, 30, 40)
    right_red, _, right_blue = preview.getpixel((27, 20))
    left_red, _, left_blue = preview.getpixel((2, 20))
    assert right_red > right_blue and left_blue > left_red, "upright: red right, blue left"


def test_exif_fields_people_search_by_are_json_safe(tmp_path: Path) -> None:
    portrait = _process_image(TESTDATA_MEDIA / "portrait_orientation_6.jpg", tmp_path / "portrait")
    full = _process_image(_jpeg_with_exif(tmp_path / "exif.jpg"), tmp_path / "out")

    assert (portrait.details["camera_make"], portrait.details["camera_model"]) == ("TestCam", "Model 6")
    assert portrait.details["orientation"] == 6
    assert {key: full.details[key] for key in ("camera_make", "camera_model", "lens_model", "taken_at")} == {
        "camera_make": "PhotoCorp",
        "camera_model": "Shooter X",
        "lens_model": "35mm F1.4",
        "taken_at": "2024-05-17T14:03:59+02:00",
    }
    assert full.details["exposure_time"] == pytest.approx(1 / 250)
    assert (full.details["f_number"], full.details["iso"], full.details["focal_length"]) == (2.8, 400, 35)
    assert json.loads(json.dumps(full.details, allow_nan=False)) == full.details


def test_gps_is_recorded_only_when_asked_and_only_when_it_makes_sense(tmp_path: Path) -> None:
    photo = _jpeg_with_exif(tmp_path / "exif.jpg")

    default = _process_image(photo, tmp_path / "default")
    kept = _process_image(photo, tmp_path / "kept", keep_gps=True)
    fixture_default = _process_image(TESTDATA_MEDIA / "exif_gps.jpg", tmp_path / "fixture_default")
    fixture_kept = _process_image(TESTDATA_MEDIA / "exif_gps.jpg", tmp_path / "fixture_kept", keep_gps=True)

    assert not any(key.startswith("gps") for key in default.details)
    assert kept.details["gps_latitude"] == pytest.approx(48.858222, abs=1e-5)
    assert kept.details["gps_longitude"] == pytest.approx(2.2945, abs=1e-5)
    assert not any(key.startswith("gps") for key in fixture_default.details)
    # The fixture's GPS block is junk (one out-of-range latitude value, no longitude): no position.
    assert not any(key.startswith("gps") for key in fixture_kept.details)
    for name in kept.derivatives:
        assert b"GPS" not in (tmp_path / "kept" / name).read_bytes()


def test_animated_gif_records_frames_and_duration_and_thumbnails_the_first_frame(tmp_path: Path) -> None:
    result = _process_image(TESTDATA_MEDIA / "iss634.gif", tmp_path)

    assert (result.details["frames"], result.details["is_animated"]) == (42, True)
    assert result.details["duration_ms"] == 2730
    with Image.open(TESTDATA_MEDIA / "iss634.gif") as original:
        first_frame = original.convert("RGB")
    web = _open_derivative(tmp_path, "thumb_256.jpg")  # 245 px: not resized
    assert ImageStat.Stat(ImageChops.difference(web, first_frame)).mean[0] < 6


def test_animated_webp_sums_its_frame_durations(tmp_path: Path) -> None:
    frames = [Image.new("RGB", (40, 30), colour) for colour in (RED, BLUE, RED)]
    frames[0].save(tmp_path / "anim.webp", save_all=True, append_images=frames[1:], duration=[100, 200, 300])

    result = _process_image(tmp_path / "anim.webp", tmp_path / "out")

    assert (result.details["frames"], result.details["duration_ms"]) == (3, 600)
    assert _open_derivative(tmp_path / "out", "thumb_64.jpg").getpixel((20, 15))[0] > 200  # first frame: red


def test_still_images_say_they_are_not_animated(tmp_path: Path) -> None:
    result = _process_image(TESTDATA_MEDIA / "hopper.avif", tmp_path)

    assert (result.format, result.details["frames"], result.details["is_animated"]) == ("AVIF", 1, False)
    assert "duration_ms" not in result.details
    assert (result.details["width"], result.details["height"]) == (128, 128)
