"""The workloads of ``peers.py``: small uploads, resumes, big uploads and photos, against any peer."""

from __future__ import annotations

import io
import itertools
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
from harness import median, percentile
from http_load import Connection, LoadResult, expect, run_with_connections, timed
from peer_servers import Peer
from upload_throughput import Measurement, Mode, measure_upload

BIG_HTTP_TIMEOUT = httpx.Timeout(120, connect=5)
PHOTO_SIZE = (4000, 3000)
_numbers = itertools.count()
_BLOCK = os.urandom(1024 * 1024)


@dataclass(frozen=True)
class LoadFigures:
    per_second: float
    p50_ms: float
    p99_ms: float

    @classmethod
    def of(cls, result: LoadResult, requests: int) -> LoadFigures:
        latencies = result.latencies
        return cls(requests / result.seconds, median(latencies) * 1000, percentile(latencies, 0.99) * 1000)


async def create_with_upload(peer: Peer, connection: Connection, body: bytes, first_bytes: int) -> str:
    """One POST: creates an upload of ``len(body)`` bytes carrying its first ``first_bytes``; returns its path."""
    post_path = peer.post_path()
    headers = peer.creation_headers(len(body), first_bytes, next(_numbers))
    response = await connection.request("POST", post_path, headers, body[:first_bytes])
    expect(response, peer.created_status, f"{peer.name} POST")
    if peer.offset_of(response, first_bytes) != first_bytes:
        raise AssertionError(f"{peer.name} POST: Upload-Offset {response.header('upload-offset')}")
    return peer.upload_path(response, post_path)


async def resume(peer: Peer, connection: Connection, path: str, body: bytes, expected_offset: int) -> None:
    """What a reconnecting client does: asks for the offset, then sends the rest from there."""
    head = expect(await connection.request("HEAD", path, peer.head_headers()), peer.head_status, f"{peer.name} HEAD")
    offset = peer.offset_of(head, expected_offset)
    if offset != expected_offset:
        raise AssertionError(f"{peer.name} HEAD: offset {offset}, expected {expected_offset}")
    patched = await connection.request("PATCH", path, peer.patch_headers(offset), body[offset:])
    expect(patched, 204, f"{peer.name} PATCH")
    if peer.offset_of(patched, len(body)) != len(body):
        raise AssertionError(f"{peer.name} PATCH: Upload-Offset {patched.header('upload-offset')}")


async def measure_small(peer: Peer, body: bytes, count: int, connections: int) -> LoadFigures:
    async def send(connection: Connection) -> None:
        await create_with_upload(peer, connection, body, len(body))

    result = await run_with_connections(peer.server.port, (timed(send) for _ in range(count)), connections)
    return LoadFigures.of(result, count)


async def measure_resumes(peer: Peer, body: bytes, count: int, connections: int) -> LoadFigures:
    half = len(body) // 2
    paths: list[str] = []

    async def begin(connection: Connection) -> float:
        paths.append(await create_with_upload(peer, connection, body, half))
        return 0.0

    await run_with_connections(peer.server.port, (begin for _ in range(count)), connections)

    def resume_job(path: str) -> Callable[[Connection], Awaitable[float]]:
        async def send(connection: Connection) -> None:
            await resume(peer, connection, path, body, half)

        return timed(send)

    result = await run_with_connections(peer.server.port, [resume_job(path) for path in paths], connections)
    return LoadFigures.of(result, 2 * count)


def measure_big(peer: Peer, size: int, chunk_bytes: int) -> tuple[float, int]:
    """MB/s and the server's peak RSS for one upload of ``size`` bytes (one PATCH when ``chunk_bytes`` is 0)."""
    with httpx.Client(timeout=BIG_HTTP_TIMEOUT, trust_env=False) as client:
        mode = Mode("big", chunk_bytes or size)
        measurement: Measurement = measure_upload(client, peer.big_target(), size, mode, _BLOCK)
    return measurement.megabytes_per_second, measurement.peak_rss_bytes


async def upload_photos(peer: Peer, photo: Path, count: int) -> None:
    """Uploads ``count`` copies of the photo, one after another, each in one request."""
    body = photo.read_bytes()
    connection = Connection(peer.server.port)
    try:
        for _ in range(count):
            await create_with_upload(peer, connection, body, len(body))
    finally:
        await connection.close()


def make_jpeg(size: int) -> bytes:
    """A real JPEG padded to exactly ``size`` bytes (decoders stop at its end marker)."""
    from PIL import Image

    side = 256
    while True:
        buffer = io.BytesIO()
        Image.effect_noise((side, side), 48).convert("RGB").save(buffer, "JPEG", quality=80)
        if buffer.tell() <= size:
            return buffer.getvalue() + bytes(size - buffer.tell())
        side -= 32


def make_photo(path: Path) -> Path:
    """A 12 MP JPEG with a phone photo's size and texture: smooth shapes under fine grain."""
    if path.exists():
        return path
    from PIL import Image

    bicubic = Image.Resampling.BICUBIC
    shapes = [Image.effect_noise((500, 375), 60 + 10 * band).resize(PHOTO_SIZE, bicubic) for band in range(3)]
    grain = Image.effect_noise(PHOTO_SIZE, 24).convert("RGB")
    Image.blend(Image.merge("RGB", shapes), grain, 0.2).save(path, "JPEG", quality=90)
    return path
