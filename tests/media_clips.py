"""Media clips that PyAV encodes on the spot for the tests, so no video or audio files live in the repository.

Each frame of a video is one solid colour of ``PALETTE``, so a poster tells which frame it was made from.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
from PIL import Image

PALETTE = (
    (220, 40, 40),
    (40, 200, 40),
    (40, 40, 220),
    (220, 220, 40),
    (220, 40, 220),
    (40, 220, 220),
    (240, 240, 240),
    (20, 20, 20),
)
RED, BLUE = PALETTE[0], PALETTE[2]
TAGS = {"title": "Night Train", "artist": "The Testers", "album": "Fixtures"}
AUDIO_RATE = 44_100
OPUS_RATE = 48_000  # Opus knows no 44.1 kHz
SAMPLE_TYPES = {"s16": np.int16, "s32": np.int32, "flt": np.float32, "dbl": np.float64}


def solid_frames(index: int, size: tuple[int, int]) -> np.ndarray:
    width, height = size
    return np.full((height, width, 3), PALETTE[index % len(PALETTE)], np.uint8)


def portrait_red_over_blue(index: int, size: tuple[int, int]) -> np.ndarray:
    """Upright, ``size`` is (width, height): red top half, blue bottom half, whatever the frame."""
    width, height = size
    picture = np.empty((height, width, 3), np.uint8)
    picture[: height // 2], picture[height // 2 :] = RED, BLUE
    return picture


def video_clip(
    path: Path,
    *,
    codec: str = "libx264",
    container_format: str | None = None,
    size: tuple[int, int] = (160, 120),
    fps: int = 10,
    seconds: int = 3,
    audio_codec: str | None = "aac",
    rotation: int = 0,
    picture=solid_frames,
    options: dict[str, str] | None = None,
) -> Path:
    """A clip whose frame ``i`` is ``picture(i, size)``, ``size`` being the displayed (upright) size.

    With a ``rotation`` (counter-clockwise, as players apply it) the picture is stored turned the other way
    and the display matrix carries the turn, as phones record portrait video.
    """
    upright_width, upright_height = size
    stored = (upright_height, upright_width) if rotation in (90, 270) else size
    with av.open(str(path), "w", format=container_format, options=options or {}) as container:
        video = container.add_stream(codec, rate=fps)
        video.width, video.height = stored
        video.pix_fmt = "yuv420p"
        if rotation:
            video.set_display_rotation(rotation)
        audio = container.add_stream(audio_codec, rate=_rate_for(audio_codec)) if audio_codec else None
        for index in range(fps * seconds):
            stored_picture = np.ascontiguousarray(np.rot90(picture(index, size), k=-rotation // 90))
            frame = av.VideoFrame.from_ndarray(stored_picture, format="rgb24")
            frame.pts = index
            container.mux(video.encode(frame))
        container.mux(video.encode(None))
        if audio is not None:
            _encode_tone(container, audio, seconds)
    return path


def audio_clip(
    path: Path, *, codec: str, container_format: str, seconds: int = 2, tags: dict[str, str] | None = None
) -> Path:
    with av.open(str(path), "w", format=container_format) as container:
        container.metadata.update(tags or {})
        audio = container.add_stream(codec, rate=_rate_for(codec), layout="stereo")
        _encode_tone(container, audio, seconds)
    return path


def _rate_for(codec: str) -> int:
    return OPUS_RATE if "opus" in codec else AUDIO_RATE


def _encode_tone(container: av.container.OutputContainer, audio: av.audio.stream.AudioStream, seconds: int) -> None:
    """A 440 Hz tone in whatever sample format and frame size the encoder asks for."""
    context = audio.codec_context
    rate, samples_per_frame = context.sample_rate, context.frame_size or 1024
    channels = context.layout.nb_channels
    sample_format = context.format
    dtype = np.dtype(SAMPLE_TYPES[sample_format.name.removesuffix("p")])  # "fltp" is planar "flt"
    scale = 1.0 if dtype.kind == "f" else np.iinfo(dtype).max / 4
    for start in range(0, rate * seconds, samples_per_frame):
        times = np.arange(start, start + samples_per_frame) / rate
        tone = (np.sin(2 * math.pi * 440 * times) * scale).astype(dtype)
        shaped = np.tile(tone, (channels, 1)) if sample_format.is_planar else np.repeat(tone, channels)[np.newaxis]
        frame = av.AudioFrame.from_ndarray(shaped, format=sample_format.name, layout=context.layout.name)
        frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
        container.mux(audio.encode(frame))
    container.mux(audio.encode(None))


def assert_colour(image: Image.Image, expected: tuple[int, int, int], where: tuple[int, int] | None = None) -> None:
    x, y = where or (image.width // 2, image.height // 2)
    actual = image.convert("RGB").getpixel((x, y))
    assert all(abs(a - e) <= 30 for a, e in zip(actual, expected, strict=True)), (actual, expected)
