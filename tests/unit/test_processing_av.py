"""The pure video and audio pipeline on clips that PyAV encodes on the spot (no media files in the repo).

Each frame of a clip is one solid colour of ``PALETTE``, so a poster tells which frame it was made from.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from tests.media_clips import (
    AUDIO_RATE,
    BLUE,
    OPUS_RATE,
    PALETTE,
    RED,
    TAGS,
    assert_colour,
    audio_clip,
    portrait_red_over_blue,
    video_clip,
)
from workers.processing import DetectedButFailed, ProcessingOptions, ProcessingResult
from workers.processing.pipeline import process_media_file
from workers.processing.sniff import detect_type

OPTIONS = ProcessingOptions(thumbnail_sizes=(64, 256), max_image_pixels=100_000_000)


def process(path: Path, output: Path) -> ProcessingResult:
    with path.open("rb") as source:
        return process_media_file(source, output, OPTIONS)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("clips")


@pytest.fixture(scope="module")
def mp4(clips: Path) -> Path:
    return video_clip(clips / "h264_aac.mp4")


def test_mp4_records_container_codecs_size_rate_and_duration(mp4: Path, tmp_path: Path) -> None:
    result = process(mp4, tmp_path)

    assert (result.detected_type, result.format, result.width, result.height) == ("video/mp4", "mp4", 160, 120)
    assert result.duration_seconds == pytest.approx(3.0, abs=0.1)
    details = result.details
    assert (details["video_codec"], details["audio_codec"], details["has_audio"]) == ("h264", "aac", True)
    assert (details["fps"], details["rotation"], details["sample_rate"], details["channels"]) == (10, 0, 44_100, 2)
    assert details["bitrate"] > 0


def test_poster_is_the_frame_at_a_tenth_of_a_short_clip_in_every_thumbnail_size(mp4: Path, tmp_path: Path) -> None:
    result = process(mp4, tmp_path)

    assert result.derivatives == ["poster_256.jpg", "poster_64.jpg"]
    with Image.open(tmp_path / "poster_256.jpg") as large, Image.open(tmp_path / "poster_64.jpg") as small:
        assert (large.format, large.size, small.size) == ("JPEG", (160, 120), (64, 48))
        assert_colour(large, PALETTE[3])  # 10 % of 3 s is 0.3 s: the fourth frame at 10 fps
        assert not large.getexif()


def test_poster_of_a_long_clip_is_the_frame_at_one_second(clips: Path, tmp_path: Path) -> None:
    long_clip = video_clip(clips / "long.mp4", size=(64, 48), fps=4, seconds=15, audio_codec=None)

    result = process(long_clip, tmp_path)

    assert result.duration_seconds == pytest.approx(15.0, abs=0.3)
    with Image.open(tmp_path / "poster_64.jpg") as poster:
        assert_colour(poster, PALETTE[4])  # 1 s at 4 fps, not 10 % (1.5 s, the seventh frame)


@pytest.mark.parametrize(
    ("codec", "codec_name", "audio_codec"), [("libvpx", "vp8", "libopus"), ("libvpx-vp9", "vp9", None)]
)
def test_webm_is_told_from_matroska_and_records_its_codecs(
    clips: Path, tmp_path: Path, codec: str, codec_name: str, audio_codec: str | None
) -> None:
    clip = video_clip(clips / f"{codec}.webm", codec=codec, audio_codec=audio_codec)

    result = process(clip, tmp_path)

    assert (result.detected_type, result.format, result.width, result.height) == ("video/webm", "webm", 160, 120)
    assert result.duration_seconds == pytest.approx(3.0, abs=0.1)
    assert result.details["video_codec"] == codec_name
    assert result.details["audio_codec"] == ("opus" if audio_codec else None)
    assert result.details["has_audio"] is (audio_codec is not None)
    with Image.open(tmp_path / "poster_256.jpg") as poster:
        assert_colour(poster, PALETTE[3])


def _ogg_page(first_packet: bytes) -> bytes:
    """The start of an Ogg stream: a page header with one segment, then the codec's first packet."""
    return b"OggS" + bytes(22) + bytes([1, len(first_packet)]) + first_packet


@pytest.mark.parametrize(
    ("head", "mime"),
    [
        (_ogg_page(b"\x80theora" + bytes(32)), "video/ogg"),
        (_ogg_page(b"\x01vorbis" + bytes(32)), "audio/ogg"),
        (_ogg_page(b"fishead\x00" + bytes(32)), "video/ogg"),  # a Skeleton first: FFmpeg could not tell here
        (b"\xff\xf1\x50\x80" + bytes(60), "audio/aac"),  # an ADTS header, not MPEG layer III
        (b"\xff\xfb\x90\x64" + bytes(60), "audio/mpeg"),
        (b"FORM\x00\x00\x10\x00AIFFCOMM" + bytes(40), "audio/aiff"),
    ],
)
def test_codec_and_format_are_told_from_the_first_bytes(tmp_path: Path, head: bytes, mime: str) -> None:
    sample = tmp_path / "sample"
    sample.write_bytes(head)

    with sample.open("rb") as source:
        assert detect_type(source).mime == mime


def test_live_webm_without_a_stated_duration_is_measured_from_its_packets(clips: Path, tmp_path: Path) -> None:
    # What a browser's MediaRecorder uploads: no duration in the header, no cues at the end.
    clip = video_clip(clips / "live.webm", codec="libvpx", audio_codec="libopus", options={"live": "1"})

    result = process(clip, tmp_path)

    assert result.duration_seconds == pytest.approx(3.0, abs=0.1)
    with Image.open(tmp_path / "poster_256.jpg") as poster:
        assert_colour(poster, PALETTE[3])


def test_matroska_is_detected_as_such(clips: Path) -> None:
    clip = video_clip(clips / "clip.mkv", audio_codec=None, seconds=1)

    with clip.open("rb") as source:
        assert detect_type(source).mime == "video/x-matroska"


@pytest.mark.parametrize("rotation", [90, 270])
def test_rotated_video_records_the_displayed_size_and_writes_an_upright_poster(
    clips: Path, tmp_path: Path, rotation: int
) -> None:
    clip = video_clip(
        clips / f"portrait_{rotation}.mp4", size=(120, 160), rotation=rotation, picture=portrait_red_over_blue
    )

    result = process(clip, tmp_path)

    assert (result.width, result.height, result.details["rotation"]) == (120, 160, rotation)
    with Image.open(tmp_path / "poster_256.jpg") as poster:
        assert poster.size == (120, 160)
        assert_colour(poster, RED, (60, 40))
        assert_colour(poster, BLUE, (60, 120))


AUDIO = [
    # file, PyAV format, encoder, detected type, container, codec, sample rate
    ("tone.mp3", "mp3", "libmp3lame", "audio/mpeg", "mp3", "mp3", AUDIO_RATE),
    ("tone.ogg", "ogg", "libopus", "audio/ogg", "ogg", "opus", OPUS_RATE),
    ("tone.flac", "flac", "flac", "audio/flac", "flac", "flac", AUDIO_RATE),
    ("tone.wav", "wav", "pcm_s16le", "audio/wav", "wav", "pcm_s16le", AUDIO_RATE),
    ("tone.m4a", "ipod", "aac", "audio/mp4", "mp4", "aac", AUDIO_RATE),
    # Containers whose first bytes say "video" become audio when they hold nothing but sound.
    ("sound_only.mp4", "mp4", "aac", "audio/mp4", "mp4", "aac", AUDIO_RATE),
    ("sound_only.webm", "webm", "libopus", "audio/webm", "webm", "opus", OPUS_RATE),
]


@pytest.mark.parametrize(("filename", "container_format", "codec", "mime", "container", "codec_name", "rate"), AUDIO)
def test_audio_records_codec_rate_channels_duration_and_tags(
    clips: Path,
    tmp_path: Path,
    filename: str,
    container_format: str,
    codec: str,
    mime: str,
    container: str,
    codec_name: str,
    rate: int,
) -> None:
    clip = audio_clip(clips / filename, codec=codec, container_format=container_format, tags=TAGS)

    result = process(clip, tmp_path)

    assert (result.detected_type, result.format, result.width, result.derivatives) == (mime, container, None, [])
    assert result.duration_seconds == pytest.approx(2.0, abs=0.1)
    details = result.details
    assert (details["audio_codec"], details["sample_rate"], details["channels"]) == (codec_name, rate, 2)
    assert details["bitrate"] > 0
    assert details["tags"] == TAGS


def test_audio_without_tags_records_none(clips: Path, tmp_path: Path) -> None:
    clip = audio_clip(clips / "untagged.flac", codec="flac", container_format="flac")

    assert "tags" not in process(clip, tmp_path).details


def _cut(path: Path, keep: int | float) -> Path:
    """A copy of ``path`` of its first ``keep`` bytes, or of that fraction of them."""
    data = path.read_bytes()
    length = keep if isinstance(keep, int) else int(len(data) * keep)
    cut = path.with_name(f"cut_{length}_{path.name}")
    cut.write_bytes(data[:length])
    return cut


def _index_start(mp4: Path) -> int:
    return mp4.read_bytes().rindex(b"moov") - 4  # the box starts with its 4-byte size


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("index gone", "unreadable video: "),  # FFmpeg writes the index (moov) last by default
        ("index cut", "no video stream"),
        ("data cut", "unreadable video: Invalid data"),  # "fast start": index first, then the data
    ],
)
def test_truncated_mp4_fails_permanently_with_one_line_and_no_poster(
    clips: Path, tmp_path: Path, case: str, reason: str
) -> None:
    fast_start = case == "data cut"
    whole = video_clip(
        clips / f"whole_{fast_start}.mp4", audio_codec=None, options={"movflags": "+faststart"} if fast_start else None
    )
    keep = {"index gone": _index_start(whole), "index cut": _index_start(whole) + 200, "data cut": 0.6}[case]

    with pytest.raises(DetectedButFailed) as failure:
        process(_cut(whole, keep), tmp_path / "out")

    assert str(failure.value).startswith(reason), str(failure.value)
    assert "\n" not in str(failure.value)
    assert failure.value.detected_type == "video/mp4"
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_truncated_webm_that_still_opens_fails_as_truncated(clips: Path, tmp_path: Path) -> None:
    whole = video_clip(clips / "whole.webm", codec="libvpx", audio_codec=None)

    with pytest.raises(DetectedButFailed, match=r"^truncated: the video stream decodes to [\d.]+ s of an announced 3"):
        process(_cut(whole, 0.6), tmp_path / "out")


def test_frames_larger_than_the_pixel_limit_are_refused_before_decoding(mp4: Path, tmp_path: Path) -> None:
    options = ProcessingOptions(thumbnail_sizes=(64,), max_image_pixels=160 * 120 - 1)

    with mp4.open("rb") as source, pytest.raises(DetectedButFailed, match=r"^refused: 160x120 frames"):
        process_media_file(source, tmp_path, options)


def test_bytes_after_a_media_header_fail_permanently(tmp_path: Path) -> None:
    fake = tmp_path / "fake.mp3"
    fake.write_bytes(b"ID3\x04\x00\x00\x00\x00\x00\x00" + b"\x00" * 2000)

    with pytest.raises(DetectedButFailed) as failure:
        process(fake, tmp_path / "out")

    assert failure.value.detected_type == "audio/mpeg"
    assert str(failure.value).startswith("unreadable audio: ")
