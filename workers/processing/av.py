"""Video and audio with PyAV (FFmpeg): validate by decoding, record what a player shows, write a poster.

The file is read through the file object FFmpeg is handed, a buffer at a time, never whole. A stream
is accepted only once it decodes at its start and again near its announced end, because a file cut
short often still opens (a Matroska or "fast start" MP4 announces its duration before its data).

Video is recorded as displayed: the rotation of the display matrix (or an old ``rotate`` tag) and a
non-square pixel aspect are applied to the width, height and poster. The poster is the frame on screen
at 1 s or at 10 % of the duration, whichever is earlier, written in the thumbnail sizes of images.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, TypeVar, cast

import av
from av.audio.frame import AudioFrame
from av.audio.stream import AudioStream
from av.container import InputContainer
from av.stream import Disposition, Stream
from av.video.frame import VideoFrame
from av.video.stream import VideoStream
from PIL import Image

from workers.processing.errors import PermanentProcessingError
from workers.processing.images import fitted_size, save_derivative, shrink
from workers.processing.sniff import DetectedType

if TYPE_CHECKING:
    from workers.processing import ProcessingOptions

POSTER_AT_SECONDS = 1.0
POSTER_AT_FRACTION = 0.1
# The end check decodes from this long before the announced end...
END_CHECK_SECONDS = 2.0
# ...and calls the stream truncated when its last frame starts this much earlier than announced.
TRUNCATION_TOLERANCE_SECONDS = 0.5
# Demuxers of bare streams without an index: their duration is guessed from the bitrate (a VBR MP3
# without a Xing header is off by seconds), so a stream falling short of it proves nothing.
_DURATION_IS_A_GUESS = frozenset({"mp3", "aac", "ac3", "eac3", "mpeg", "mpegts"})
TAGS = ("title", "artist", "album", "album_artist", "date", "genre", "track")
# Counter-clockwise display rotation -> the transposition that shows the stored picture upright.
_UPRIGHT = {90: Image.Transpose.ROTATE_90, 180: Image.Transpose.ROTATE_180, 270: Image.Transpose.ROTATE_270}
_CONTAINER_NAMES = {
    "video/mp4": "mp4",
    "audio/mp4": "mp4",
    "video/quicktime": "mov",
    "video/3gpp": "3gp",
    "audio/3gpp": "3gp",
    "video/webm": "webm",
    "audio/webm": "webm",
    "video/x-matroska": "matroska",
    "audio/x-matroska": "matroska",
    "video/ogg": "ogg",
    "audio/ogg": "ogg",
    "audio/mpeg": "mp3",
    "audio/aac": "aac",
    "audio/wav": "wav",
    "audio/aiff": "aiff",
    "audio/flac": "flac",
    "video/x-msvideo": "avi",
    "video/x-flv": "flv",
}


@dataclass
class AVResult:
    format: str
    duration_seconds: float | None
    width: int | None = None
    height: int | None = None
    details: dict[str, Any] = field(default_factory=dict)
    derivatives: list[str] = field(default_factory=list)


def process_av(source: BinaryIO, output_dir: Path, options: ProcessingOptions, detected: DetectedType) -> AVResult:
    """Probe and decode ``source``; for video, write a poster per thumbnail size (longest side) to ``output_dir``."""
    try:
        with _open(source) as container:
            if detected.kind == "video":
                return _process_video(container, output_dir, options, detected.mime)
            return _process_audio(container, detected.mime)
    except av.FFmpegError as error:
        raise PermanentProcessingError(f"unreadable {detected.kind}: {_reason(error)}") from None


def _open(source: BinaryIO) -> InputContainer:
    source.seek(0)
    # "replace": a tag in a broken encoding must not make a sound file fail (or be retried).
    return av.open(source, mode="r", metadata_errors="replace")


def _reason(error: av.FFmpegError) -> str:
    text = getattr(error, "strerror", None) or str(error)
    return text.splitlines()[0] if text else type(error).__name__


def _process_video(container: InputContainer, output_dir: Path, options: ProcessingOptions, mime: str) -> AVResult:
    video = _playable(_picture_streams(container), "video")
    _refuse_too_many_pixels(video, options.max_image_pixels)
    # A sound track FFmpeg cannot decode is recorded as no sound rather than failing the video.
    audio = next((stream for stream in container.streams.audio if stream.codec_context is not None), None)
    start = _start_seconds(video)
    duration = _duration_seconds(container, video)
    poster_at = start + min(POSTER_AT_SECONDS, POSTER_AT_FRACTION * duration) if duration else start
    poster = cast(VideoFrame, _frame_at(container, video, poster_at))  # a video stream decodes to video frames
    if duration:
        _check_not_truncated(container, video, start + duration)
    rotation = _rotation(poster, video)
    width, height = _display_size(video, rotation)
    details: dict[str, Any] = {
        "video_codec": _codec_name(video),
        "audio_codec": _codec_name(audio) if audio else None,
        "has_audio": audio is not None,
        "fps": _rounded(video.average_rate or video.guessed_rate),
        "rotation": rotation,
        "bitrate": container.bit_rate or None,
        "video_bitrate": video.bit_rate or None,
        "pixel_format": video.codec_context.pix_fmt,
        "frames": video.frames or None,
        "demuxer": container.format.name,
    }
    if audio is not None:
        details.update(_sound_details(audio))
    details.update(_tags(container, video))
    derivatives = _write_posters(poster, (width, height), rotation, output_dir, options.thumbnail_sizes)
    return AVResult(
        format=_container_name(container, mime),
        duration_seconds=_rounded(duration),
        width=width,
        height=height,
        details=details,
        derivatives=derivatives,
    )


def _process_audio(container: InputContainer, mime: str) -> AVResult:
    audio = _playable(container.streams.audio, "audio")
    start = _start_seconds(audio)
    duration = _duration_seconds(container, audio)
    _frame_at(container, audio, start)
    if duration:
        _check_not_truncated(container, audio, start + duration)
    details: dict[str, Any] = {
        "audio_codec": _codec_name(audio),
        "bitrate": audio.bit_rate or container.bit_rate or None,
        "has_cover_art": any(_is_cover_art(stream) for stream in container.streams.video),
        "demuxer": container.format.name,
    }
    details.update(_sound_details(audio))
    details.update(_tags(container, audio))
    return AVResult(format=_container_name(container, mime), duration_seconds=_rounded(duration), details=details)


def _is_cover_art(stream: VideoStream) -> bool:
    return bool(stream.disposition & Disposition.attached_pic)


def _picture_streams(container: InputContainer) -> list[VideoStream]:
    return [stream for stream in container.streams.video if not _is_cover_art(stream)]


_S = TypeVar("_S", bound=Stream)


def _playable(streams: tuple[_S, ...] | list[_S], kind: str) -> _S:
    if not streams:
        raise PermanentProcessingError(f"no {kind} stream (the file may be truncated)")
    stream = streams[0]
    # A stream whose header was cut off or whose codec FFmpeg lacks: it opens, but nothing decodes it.
    if stream.codec_context is None:
        raise PermanentProcessingError(f"the {kind} stream has no codec FFmpeg can decode (the file may be truncated)")
    return stream


def _refuse_too_many_pixels(stream: VideoStream, max_pixels: int) -> None:
    """The image limit holds for frames too, checked before the first one is decoded."""
    width, height = stream.codec_context.width, stream.codec_context.height
    if width * height > max_pixels:
        raise PermanentProcessingError(
            f"refused: {width}x{height} frames are {width * height} pixels, more than the limit of {max_pixels}"
        )


def _codec_name(stream: Stream) -> str:
    # The codec's own name ("mp3"), not the decoder's ("mp3float").
    return stream.codec_context.codec.canonical_name


def _start_seconds(stream: Stream) -> float:
    if stream.start_time is None or stream.time_base is None:
        return 0.0
    return float(stream.start_time * stream.time_base)


def _duration_seconds(container: InputContainer, stream: Stream) -> float | None:
    """The stream's own duration when the container states one, else the container's, else counted."""
    if stream.duration and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    tagged = _matroska_duration_tag(stream)
    if tagged:
        return tagged
    if container.duration:
        return container.duration / av.time_base
    # A live recording (a browser's MediaRecorder WebM) states none: read the packet times to the end.
    return _duration_by_demuxing(container, stream)


def _matroska_duration_tag(stream: Stream) -> float | None:
    """Matroska states durations per file, but muxers add a per-track "DURATION" tag (HH:MM:SS.nnnnnnnnn)."""
    hours, _, rest = stream.metadata.get("DURATION", "").partition(":")
    minutes, _, seconds = rest.partition(":")
    try:
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    except ValueError:
        return None


def _duration_by_demuxing(container: InputContainer, stream: Stream) -> float | None:
    if stream.time_base is None:
        return None
    first: int | None = None
    end: int | None = None
    for packet in container.demux(stream):
        if packet.pts is None:
            continue
        first = packet.pts if first is None else min(first, packet.pts)
        end = max(end or 0, packet.pts + (packet.duration or 0))
    if first is None or end is None:
        return None
    return float((end - first) * stream.time_base)


def _seek(container: InputContainer, stream: Stream, seconds: float) -> None:
    """To the keyframe at or before ``seconds``, so decoding forward reaches it."""
    try:
        if stream.time_base is None:
            container.seek(int(seconds * av.time_base))
        else:
            container.seek(int(seconds / stream.time_base), stream=stream)
    except av.FFmpegError as error:
        # FFmpeg says "Operation not permitted" when the index points past the end of a cut file.
        raise PermanentProcessingError(f"cannot seek to {seconds:.2f} s: {_reason(error)}") from None


def _decoded(container: InputContainer, stream: VideoStream | AudioStream) -> Iterator[VideoFrame | AudioFrame]:
    # PyAV's stubs type decode() for one kind of stream at a time, not for a union of them.
    return cast(Iterator[VideoFrame | AudioFrame], container.decode(stream))


def _frame_at(container: InputContainer, stream: VideoStream | AudioStream, seconds: float) -> VideoFrame | AudioFrame:
    """The frame on screen at ``seconds``: the last one that starts no later (or the first after a gap)."""
    _seek(container, stream, seconds)
    shown: VideoFrame | AudioFrame | None = None
    for frame in _decoded(container, stream):
        if shown is not None and frame.time is not None and frame.time > seconds:
            break
        shown = frame
    if shown is None:
        raise PermanentProcessingError(f"no {stream.type} frame decodes at {seconds:.2f} s")
    return shown


def _check_not_truncated(container: InputContainer, stream: VideoStream | AudioStream, announced_end: float) -> None:
    if container.format.name in _DURATION_IS_A_GUESS:
        return
    _seek(container, stream, max(_start_seconds(stream), announced_end - END_CHECK_SECONDS))
    last_start: float | None = None
    for frame in _decoded(container, stream):
        if frame.time is not None:
            last_start = frame.time
    if last_start is None or last_start < announced_end - TRUNCATION_TOLERANCE_SECONDS - _frame_seconds(stream):
        reached = "nothing" if last_start is None else f"{last_start:.2f} s"
        raise PermanentProcessingError(
            f"truncated: the {stream.type} stream decodes to {reached} of an announced {announced_end:.2f} s"
        )


def _frame_seconds(stream: Stream) -> float:
    """How long one frame lasts, so the last frame of a slideshow-like video is not taken for a cut."""
    rate = stream.average_rate if isinstance(stream, VideoStream) else None
    return float(1 / rate) if rate else 0.0


def _rotation(frame: VideoFrame, stream: VideoStream) -> int:
    """Counter-clockwise degrees (0, 90, 180 or 270) a player turns the stored picture by."""
    degrees = frame.rotation
    if not degrees and "rotate" in stream.metadata:
        # FFmpeg before 5.0 exported the display matrix as a clockwise "rotate" tag; remuxed files keep it.
        try:
            degrees = -int(stream.metadata["rotate"])
        except ValueError:
            degrees = 0
    # Only quarter turns are honoured; anything else is a rounding error of the matrix or a tilt we ignore.
    return (round(degrees / 90) * 90) % 360


def _display_size(stream: VideoStream, rotation: int) -> tuple[int, int]:
    """Width and height as a player shows them: pixel aspect applied, then rotation."""
    width, height = stream.codec_context.width, stream.codec_context.height
    aspect = stream.sample_aspect_ratio
    if aspect and aspect != 1:
        width = max(1, round(width * aspect))
    return (height, width) if rotation in (90, 270) else (width, height)


def _write_posters(
    frame: VideoFrame, display: tuple[int, int], rotation: int, output_dir: Path, sizes: tuple[int, ...]
) -> list[str]:
    """Largest first, each size shrunk from the one before, like the thumbnails of images."""
    current = _upright_reduced(frame, display, rotation, max(sizes))
    output_dir.mkdir(parents=True, exist_ok=True)
    names: list[str] = []
    for size in sorted(sizes, reverse=True):
        current = shrink(current, size)
        name = f"poster_{size}.jpg"
        save_derivative(current, output_dir / name, "JPEG")
        names.append(name)
    return names


def _upright_reduced(frame: VideoFrame, display: tuple[int, int], rotation: int, longest_side: int) -> Image.Image:
    """The frame as RGB at its displayed aspect, no larger than ``longest_side``, turned upright.

    FFmpeg's scaler reduces the frame while converting it, so a 4K frame never exists in RGB at full size.
    """
    width, height = fitted_size(display, longest_side)
    stored_size = (height, width) if rotation in (90, 270) else (width, height)
    image = frame.to_image(width=stored_size[0], height=stored_size[1], interpolation="AREA")
    return image.transpose(_UPRIGHT[rotation]) if rotation in _UPRIGHT else image


def _sound_details(stream: AudioStream) -> dict[str, Any]:
    context = stream.codec_context
    return {
        "sample_rate": context.sample_rate or None,
        "channels": context.layout.nb_channels or None,
        "channel_layout": context.layout.name,
        "audio_bitrate": stream.bit_rate or None,
    }


def _tags(container: InputContainer, stream: Stream) -> dict[str, Any]:
    """Title, artist, album... from the container (ID3, MP4, Matroska) or the stream (Ogg comments)."""
    found: dict[str, str] = {}
    for metadata in (stream.metadata, container.metadata):
        for key, value in metadata.items():
            name = key.lower()
            if name in TAGS and value.strip():
                found[name] = value.strip()
    return {"tags": found} if found else {}


def _container_name(container: InputContainer, mime: str) -> str:
    # FFmpeg names demuxers by family ("mov,mp4,m4a,3gp,3g2,mj2"); the detected type is more precise.
    return _CONTAINER_NAMES.get(mime) or container.format.name.split(",")[0]


def _rounded(value: float | Fraction | None) -> float | None:
    return round(float(value), 3) if value else None
