"""A lean HTTP/1.1 load generator: keep-alive connections on asyncio streams, requests as prepared bytes.

The servers measured here answer in a millisecond or less, so the client must cost less than that or it
becomes the figure: httpx spends several hundred microseconds of Python per request, this spends tens. It
speaks only what the benchmarks send: a request with a ``Content-Length`` body, a response with a
``Content-Length`` or chunked body, and ``Connection: close``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from harness import HOST

RESPONSE_TIMEOUT_SECONDS = 60

Outcome = TypeVar("Outcome")


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: bytes

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


@dataclass
class Connection:
    port: int
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    requests: int = field(default=0)

    async def request(
        self, method: str, path: str, headers: Mapping[str, str] | None = None, body: bytes = b""
    ) -> Response:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(HOST, self.port)
        assert self.reader is not None
        lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{self.port}", f"Content-Length: {len(body)}"]
        lines.extend(f"{name}: {value}" for name, value in (headers or {}).items())
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        if body:
            self.writer.write(body)
        response = await asyncio.wait_for(_read_response(self.reader, method), RESPONSE_TIMEOUT_SECONDS)
        self.requests += 1
        if response.header("connection").lower() == "close":
            await self.close()
        return response

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None


async def _read_response(reader: asyncio.StreamReader, method: str) -> Response:
    head = await reader.readuntil(b"\r\n\r\n")
    status_line, *header_lines = head[:-4].decode("latin-1").split("\r\n")
    status = int(status_line.split(" ", 2)[1])
    headers: dict[str, str] = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return Response(status, headers, b"")
    if headers.get("transfer-encoding", "").lower() == "chunked":
        return Response(status, headers, await _read_chunked(reader))
    return Response(status, headers, await reader.readexactly(int(headers.get("content-length", "0"))))


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while True:
        size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return bytes(body)
        body += await reader.readexactly(size)
        await reader.readexactly(2)


@dataclass(frozen=True)
class LoadResult:
    seconds: float
    latencies: list[float]


async def run_with_connections(
    port: int, jobs: Iterable[Callable[[Connection], Awaitable[float]]], connections: int
) -> LoadResult:
    """Runs the jobs over ``connections`` keep-alive connections, each taking the next job when it is free.

    A job returns its own latency in seconds (it may send several requests); the result has them all and
    the wall-clock time from the first request to the last answer.
    """
    queue: asyncio.Queue[Callable[[Connection], Awaitable[float]]] = asyncio.Queue()
    for job in jobs:
        queue.put_nowait(job)
    latencies: list[float] = []

    async def serve_queue() -> None:
        connection = Connection(port)
        try:
            while not queue.empty():
                latencies.append(await queue.get_nowait()(connection))
        finally:
            await connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(serve_queue() for _ in range(connections)))
    return LoadResult(time.perf_counter() - started, latencies)


def timed(send: Callable[[Connection], Awaitable[None]]) -> Callable[[Connection], Awaitable[float]]:
    """A job that measures how long ``send`` takes on the connection it is given."""

    async def job(connection: Connection) -> float:
        started = time.perf_counter()
        await send(connection)
        return time.perf_counter() - started

    return job


def expect(response: Response, status: int, what: str) -> Response:
    if response.status != status:
        raise AssertionError(f"{what}: {response.status}, expected {status}: {response.body[:200]!r}")
    return response
