"""Video and audio clips, encoded on the spot, uploaded through the server: ready, with a duration and a poster."""

from __future__ import annotations

import io
from pathlib import Path

import httpx
import pytest
from PIL import Image

from tests.media_clips import PALETTE, TAGS, assert_colour, audio_clip, video_clip
from tests.servers import Server, upload_bytes, wait_for_asset

POSTERS = ["poster_1024.jpg", "poster_256.jpg"]  # the server's default THUMBNAIL_SIZES


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("clips")


@pytest.mark.parametrize(
    ("filename", "codec", "audio_codec", "mime", "video_codec"),
    [
        ("clip.mp4", "libx264", "aac", "video/mp4", "h264"),
        ("clip.webm", "libvpx-vp9", "libopus", "video/webm", "vp9"),
    ],
)
def test_video_ends_ready_with_duration_and_a_poster_the_api_serves(
    shared_server: Server,
    http: httpx.Client,
    clips: Path,
    filename: str,
    codec: str,
    audio_codec: str,
    mime: str,
    video_codec: str,
) -> None:
    clip = video_clip(clips / filename, codec=codec, audio_codec=audio_codec)

    asset = wait_for_asset(http, shared_server, upload_bytes(http, shared_server, clip.read_bytes(), filename))

    assert asset["status"] == "ready", asset["error"]
    assert (asset["detected_type"], asset["width"], asset["height"]) == (mime, 160, 120)
    assert asset["duration_seconds"] == pytest.approx(3.0, abs=0.1)
    assert (asset["details"]["video_codec"], asset["details"]["has_audio"]) == (video_codec, True)
    assert sorted(asset["derivatives"]) == POSTERS
    for name in POSTERS:
        response = http.get(asset["derivatives"][name])
        assert response.status_code == 200
        poster = Image.open(io.BytesIO(response.content))
        assert (poster.format, poster.size) == ("JPEG", (160, 120))  # never enlarged
        assert_colour(poster, PALETTE[3])  # the frame at 10 % of 3 s


def test_audio_ends_ready_with_duration_and_tags(shared_server: Server, http: httpx.Client, clips: Path) -> None:
    clip = audio_clip(clips / "tone.mp3", codec="libmp3lame", container_format="mp3", tags=TAGS)

    asset = wait_for_asset(http, shared_server, upload_bytes(http, shared_server, clip.read_bytes(), "tone.mp3"))

    assert asset["status"] == "ready", asset["error"]
    assert (asset["detected_type"], asset["format"], asset["derivatives"]) == ("audio/mpeg", "mp3", {})
    assert asset["duration_seconds"] == pytest.approx(2.0, abs=0.1)
    assert asset["details"]["tags"] == TAGS


def test_truncated_video_fails_at_once_with_a_reason(shared_server: Server, http: httpx.Client, clips: Path) -> None:
    data = video_clip(clips / "whole.mp4", audio_codec=None).read_bytes()
    truncated = data[: data.rindex(b"moov")]

    asset = wait_for_asset(http, shared_server, upload_bytes(http, shared_server, truncated, "cut.mp4"))

    assert (asset["status"], asset["detected_type"], asset["attempts"]) == ("failed", "video/mp4", 1)
    assert asset["error"].startswith("unreadable video: ")
    assert asset["derivatives"] == {}
