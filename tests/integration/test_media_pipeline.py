"""Every test image of tests/data/media, uploaded through the server, ends in the state it deserves."""

from __future__ import annotations

import io

import httpx
import pillow_heif
import pytest
from PIL import Image

from tests.servers import TESTDATA_MEDIA, Server, upload_bytes, wait_for_asset

pillow_heif.register_heif_opener()  # to write the HEIC test file; the server registers its own

READY = [
    # file, format, width, height (upright)
    ("hopper.jpg", "JPEG", 128, 128),
    ("hopper.png", "PNG", 128, 128),
    ("hopper.webp", "WEBP", 128, 128),
    ("hopper.avif", "AVIF", 128, 128),
    ("hopper_orientation_6.jpg", "JPEG", 128, 128),
    ("exif_gps.jpg", "JPEG", 8, 8),
    ("pil_sample_cmyk.jpg", "JPEG", 100, 100),
    ("pil123rgba.png", "PNG", 162, 150),
    ("icc_profile_big.jpg", "JPEG", 425, 250),
    ("iss634.gif", "GIF", 245, 245),
    ("portrait_orientation_6.jpg", "JPEG", 480, 640),
]

WEB_VERSION, WEB_VERSION_SIZE = "web", 2048  # the default WEB_VERSION_SIZE

FAILED = [
    ("truncated_jpeg.jpg", "truncated"),
    ("decompression_bomb.gif", "refused"),
    ("png_decompression_dos.png", "too large"),
]


def _derivative(http: httpx.Client, asset: dict, name: str) -> Image.Image:
    response = http.get(asset["derivatives"][name])
    assert response.status_code == 200
    return Image.open(io.BytesIO(response.content))


@pytest.mark.parametrize(("filename", "image_format", "width", "height"), READY)
def test_image_ends_ready_with_dimensions_and_thumbnails(
    shared_server: Server, http: httpx.Client, filename: str, image_format: str, width: int, height: int
) -> None:
    upload_id = upload_bytes(http, shared_server, (TESTDATA_MEDIA / filename).read_bytes(), filename)

    asset = wait_for_asset(http, shared_server, upload_id)

    assert asset["status"] == "ready", asset["error"]
    assert (asset["format"], asset["width"], asset["height"]) == (image_format, width, height)
    assert asset["detected_type"].startswith("image/")
    assert asset["processing_time_ms"] >= 0
    extension = "webp" if asset["details"]["has_alpha"] else "jpg"
    assert sorted(asset["derivatives"]) == sorted(
        [*(f"thumb_{size}.{extension}" for size in (256, 1024)), f"{WEB_VERSION}.{extension}"]
    )
    for name in asset["derivatives"]:
        thumbnail = _derivative(http, asset, name)
        # Never upscaled, always the upright aspect, and no EXIF (so no location) in any derivative.
        assert max(thumbnail.size) <= max(width, height)
        assert (thumbnail.width >= thumbnail.height) == (width >= height)
        assert not thumbnail.getexif()
        assert thumbnail.mode in ("RGB", "RGBA", "L")
    web = _derivative(http, asset, f"{WEB_VERSION}.{extension}")
    assert max(web.size) == min(WEB_VERSION_SIZE, max(width, height))
    assert asset["details"]["blurhash"]


def test_portrait_orientation_6_thumbnails_are_upright_red_on_the_right(
    shared_server: Server, http: httpx.Client
) -> None:
    upload_id = upload_bytes(
        http, shared_server, (TESTDATA_MEDIA / "portrait_orientation_6.jpg").read_bytes(), "portrait.jpg"
    )
    asset = wait_for_asset(http, shared_server, upload_id)

    assert (asset["width"], asset["height"]) == (480, 640)
    assert asset["details"]["camera_make"]
    for name in asset["derivatives"]:
        thumbnail = _derivative(http, asset, name).convert("RGB")
        assert thumbnail.height > thumbnail.width
        red, _, blue = thumbnail.getpixel((thumbnail.width * 3 // 4, thumbnail.height // 2))
        assert red > 200 and blue < 60, "right half should be red"
        red, _, blue = thumbnail.getpixel((thumbnail.width // 4, thumbnail.height // 2))
        assert blue > 200 and red < 60, "left half should be blue"


def test_cmyk_thumbnail_is_rgb_and_alpha_is_kept(shared_server: Server, http: httpx.Client) -> None:
    cmyk = wait_for_asset(
        http, shared_server, upload_bytes(http, shared_server, (TESTDATA_MEDIA / "pil_sample_cmyk.jpg").read_bytes())
    )
    rgba = wait_for_asset(
        http, shared_server, upload_bytes(http, shared_server, (TESTDATA_MEDIA / "pil123rgba.png").read_bytes())
    )

    assert _derivative(http, cmyk, "thumb_256.jpg").mode == "RGB"
    thumbnail = _derivative(http, rgba, "thumb_256.webp")
    assert thumbnail.mode == "RGBA"
    assert thumbnail.getextrema()[3][0] < 255, "transparent pixels must stay transparent"


def test_animated_gif_records_its_frames(shared_server: Server, http: httpx.Client) -> None:
    upload_id = upload_bytes(http, shared_server, (TESTDATA_MEDIA / "iss634.gif").read_bytes())

    assert wait_for_asset(http, shared_server, upload_id)["details"]["frames"] == 42


def test_heic_upload_ends_ready_with_upright_dimensions(shared_server: Server, http: httpx.Client) -> None:
    # A phone-style HEIC: stored landscape, turned upright by its orientation (red top half ends on the right).
    photo = Image.new("RGB", (640, 480), (255, 0, 0))
    photo.paste((0, 0, 255), (0, 240, 640, 480))
    exif = Image.Exif()
    exif[0x0112] = 6
    heic = io.BytesIO()
    photo.save(heic, "HEIF", exif=exif.tobytes(), quality=90)
    upload_id = upload_bytes(http, shared_server, heic.getvalue(), "IMG_0001.HEIC")

    asset = wait_for_asset(http, shared_server, upload_id)

    assert asset["status"] == "ready", asset["error"]
    assert (asset["format"], asset["width"], asset["height"]) == ("HEIF", 480, 640)
    assert asset["detected_type"] in ("image/heic", "image/heif")
    assert sorted(asset["derivatives"]) == ["thumb_1024.jpg", "thumb_256.jpg", "web.jpg"]
    thumbnail = _derivative(http, asset, "thumb_256.jpg").convert("RGB")
    assert thumbnail.size == (192, 256)
    assert thumbnail.getpixel((150, 128))[0] > 200, "right half should be red"


@pytest.mark.parametrize(("filename", "reason"), FAILED)
def test_hostile_or_broken_image_fails_with_a_reason_and_server_keeps_serving(
    shared_server: Server, http: httpx.Client, filename: str, reason: str
) -> None:
    upload_id = upload_bytes(http, shared_server, (TESTDATA_MEDIA / filename).read_bytes(), filename)

    asset = wait_for_asset(http, shared_server, upload_id)

    assert asset["status"] == "failed"
    assert reason in asset["error"]
    assert "\n" not in asset["error"]
    assert asset["attempts"] == 1, "a permanent failure is not retried"
    assert asset["derivatives"] == {}
    # The server and its worker go on: the next upload is processed.
    follow_up = upload_bytes(http, shared_server, (TESTDATA_MEDIA / "hopper.png").read_bytes())
    assert wait_for_asset(http, shared_server, follow_up)["status"] == "ready"


@pytest.mark.parametrize(("keep", "kept"), [("true", True), ("false", False)])
def test_default_allow_list_refuses_other_types_keeping_or_deleting_the_bytes(
    server_with, http: httpx.Client, keep: str, kept: bool
) -> None:
    server = server_with(ALLOWED_TYPES="image/*,video/*,audio/*", KEEP_REFUSED_FILES=keep)
    upload_id = upload_bytes(http, server, b"%PDF-1.7 a document", "report.pdf")

    asset = wait_for_asset(http, server, upload_id)

    assert (asset["status"], asset["error"], asset["detected_type"]) == (
        "failed",
        "type not allowed: application/pdf",
        "application/pdf",
    )
    assert (server.data_dir / "uploads" / upload_id).exists() is kept
