"""Upload throughput and server memory of tusmedia, next to a minimal ASGI app that only appends bytes to a file.

Both servers run as real uvicorn subprocesses on 127.0.0.1 with uvicorn's defaults (uvloop and httptools when
installed). The same amount of data, generated on the fly and never held whole in memory, is uploaded to each:

* as one streaming PATCH of the whole length (``Upload-Offset: 0``), and
* as a sequence of fixed-size PATCH chunks, each at the right ``Upload-Offset``.

For tusmedia every upload is first created with a POST; the creation is not timed, only the PATCH traffic is.
While the PATCHes run, the server process's RSS is sampled every 50 ms, and the peak is reported alongside
the RSS the server had before the first upload, so that a reader can see memory not growing with the file
size. Every measurement is repeated; the table shows the median throughput and the highest peak RSS seen.
Throughput is in MB/s with MB = 10**6 bytes; memory is in MiB.

Run from the repository root (takes a minute or two with the defaults):

    python benchmarks/upload_throughput.py [--size-mib 1024] [--chunk-mib 8] [--repeat 3]

Figures are disturbed by anything else running on the machine: the client, both servers and the kernel's
writeback share the same cores.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import httpx
from harness import (
    HOST,
    MB,
    MIB,
    OFFSET_CONTENT_TYPE,
    TUS,
    PeakRssSampler,
    ServerProcess,
    embedded_env,
    free_port,
    generated_body,
    mib,
    python_command,
    rss_bytes,
    start_server,
)

# Generous, because one request carries the whole file; each is still a bound on a single socket operation.
HTTP_TIMEOUT = httpx.Timeout(120, connect=5)
WARM_UP_BYTES = 16 * MIB
BLOCK_BYTES = MIB

Scope = dict[str, Any]
Message = dict[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
AsgiApp = Callable[[Scope, Receive, Send], Awaitable[None]]


# --- the baseline server: runs in its own process, started with --baseline-server ---------------------------


def make_baseline_app(directory: Path) -> AsgiApp:
    """An ASGI app that appends every PATCH/POST body to ``directory/<last path segment>`` and answers 204."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _serve_lifespan(receive, send)
            return
        if scope["method"] in ("PATCH", "POST"):
            await _append_body(directory / (Path(scope["path"]).name or "body"), receive)
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    return app


async def _serve_lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def _append_body(path: Path, receive: Receive) -> None:
    with open(path, "ab") as target:
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return
            target.write(message.get("body", b""))
            if not message.get("more_body", False):
                return


def run_baseline_server(port: int, directory: Path) -> None:
    import uvicorn

    uvicorn.run(make_baseline_app(directory), host=HOST, port=port, log_level="warning")


# --- server processes ----------------------------------------------------------------------------------------


def start_tusmedia(work_dir: Path, max_file_size: int) -> ServerProcess:
    port = free_port()
    data_dir = work_dir / "tusmedia"
    command = python_command("-m", "app.cli", "serve", "--port", str(port))
    return start_server("tusmedia", command, port, data_dir, tusmedia_env(data_dir, max_file_size))


def tusmedia_env(data_dir: Path, max_file_size: int) -> dict[str, str]:
    # This benchmark measures streaming, not access control: uploads go in without a token.
    return embedded_env(data_dir, MAX_FILE_SIZE=str(max_file_size), ALLOW_ANONYMOUS="true")


def start_baseline(work_dir: Path) -> ServerProcess:
    port = free_port()
    data_dir = work_dir / "baseline"
    command = python_command(str(Path(__file__).resolve()), "--baseline-server", str(port), str(data_dir))
    return start_server("baseline", command, port, data_dir, embedded_env(data_dir))


# --- uploading -------------------------------------------------------------------------------------------------


class UploadTarget(Protocol):
    server: ServerProcess

    def create(self, client: httpx.Client, size: int) -> str:
        """Prepare an upload of ``size`` bytes; returns the URL to PATCH."""
        ...

    def patch_headers(self) -> dict[str, str]: ...

    def check_patched(self, response: httpx.Response, expected_offset: int) -> None: ...

    def stored_path(self, url: str) -> Path: ...

    def discard(self, client: httpx.Client, url: str) -> None: ...


@dataclass
class TusTarget:
    """A tus server: uploads are created with a POST; their bytes land in ``stored_dir/<id>``."""

    server: ServerProcess
    stored_dir: Path
    headers: dict[str, str] = field(default_factory=dict)

    def create(self, client: httpx.Client, size: int) -> str:
        headers = {**TUS, **self.headers, "Upload-Length": str(size)}
        response = client.post(f"{self.server.base_url}/files/", headers=headers)
        expect_status(response, 201)
        return str(response.url.join(response.headers["Location"]))

    def patch_headers(self) -> dict[str, str]:
        return self.headers

    def check_patched(self, response: httpx.Response, expected_offset: int) -> None:
        expect_status(response, 204)
        if response.headers.get("Upload-Offset") != str(expected_offset):
            raise AssertionError(f"Upload-Offset {response.headers.get('Upload-Offset')}, expected {expected_offset}")

    def stored_path(self, url: str) -> Path:
        return self.stored_dir / url.rsplit("/", 1)[1]

    def discard(self, client: httpx.Client, url: str) -> None:
        # Deleting keeps the disk usage to one upload and lets the kernel drop the dirty pages unwritten.
        expect_status(client.delete(url, headers={**TUS, **self.headers}), 204)


@dataclass
class BaselineTarget:
    server: ServerProcess

    def create(self, client: httpx.Client, size: int) -> str:
        return f"{self.server.base_url}/files/{uuid.uuid4().hex}"

    def patch_headers(self) -> dict[str, str]:
        return {}

    def check_patched(self, response: httpx.Response, expected_offset: int) -> None:
        expect_status(response, 204)

    def stored_path(self, url: str) -> Path:
        return self.server.data_dir / url.rsplit("/", 1)[1]

    def discard(self, client: httpx.Client, url: str) -> None:
        self.stored_path(url).unlink()


def expect_status(response: httpx.Response, status: int) -> None:
    if response.status_code != status:
        raise AssertionError(f"{response.request.method} {response.url}: {response.status_code}, expected {status}")


def send_patches(
    client: httpx.Client, target: UploadTarget, url: str, size: int, chunk_bytes: int, block: bytes
) -> None:
    offset = 0
    while offset < size:
        length = min(chunk_bytes, size - offset)
        headers = {
            **TUS,
            **target.patch_headers(),
            "Content-Type": OFFSET_CONTENT_TYPE,
            "Upload-Offset": str(offset),
            # With an explicit Content-Length httpx sends the generator's bytes as is, not chunk-encoded.
            "Content-Length": str(length),
        }
        response = client.patch(url, content=generated_body(length, block), headers=headers)
        offset += length
        target.check_patched(response, offset)


@dataclass(frozen=True)
class Mode:
    label: str
    chunk_bytes: int


@dataclass(frozen=True)
class Measurement:
    megabytes_per_second: float
    peak_rss_bytes: int


def measure_upload(client: httpx.Client, target: UploadTarget, size: int, mode: Mode, block: bytes) -> Measurement:
    # Every upload starts with no dirty pages left by the one before (another server's, in the
    # interleaved runs): otherwise the kernel's writeback of those throttles this one, and whoever
    # runs after the biggest writer looks slowest.
    os.sync()
    url = target.create(client, size)
    with PeakRssSampler(target.server.process.pid) as sampler:
        started = time.perf_counter()
        send_patches(client, target, url, size, mode.chunk_bytes, block)
        elapsed = time.perf_counter() - started
    stored = target.stored_path(url).stat().st_size
    if stored != size:
        raise AssertionError(f"{target.server.name} stored {stored} bytes, expected {size}")
    target.discard(client, url)
    return Measurement(size / elapsed / MB, sampler.peak_bytes)


# --- the run ---------------------------------------------------------------------------------------------------


@dataclass
class Results:
    start_rss_bytes: dict[str, int]
    runs: dict[tuple[str, str], list[Measurement]]

    def median_throughput(self, mode: Mode, server: str) -> float:
        return statistics.median(run.megabytes_per_second for run in self.runs[mode.label, server])

    def peak_rss(self, mode: Mode, server: str) -> int:
        return max(run.peak_rss_bytes for run in self.runs[mode.label, server])


def run_benchmark(targets: list[UploadTarget], modes: list[Mode], size: int, repeat: int) -> Results:
    block = os.urandom(BLOCK_BYTES)
    results = Results(start_rss_bytes={}, runs={})
    with httpx.Client(timeout=HTTP_TIMEOUT, trust_env=False) as client:
        for target in targets:
            results.start_rss_bytes[target.server.name] = rss_bytes(target.server.pid)
            # Unmeasured: the first request of a fresh process pays for lazy imports and connections.
            measure_upload(client, target, min(size, WARM_UP_BYTES), Mode("warm-up", size), block)
        # Interleaved, so that a slow spell on the machine hits both servers rather than one.
        for round_number in range(1, repeat + 1):
            for mode in modes:
                for target in targets:
                    measurement = measure_upload(client, target, size, mode, block)
                    results.runs.setdefault((mode.label, target.server.name), []).append(measurement)
                    print_run(f"round {round_number}/{repeat}", mode, target, measurement)
    return results


def print_run(label: str, mode: Mode, target: UploadTarget, measurement: Measurement) -> None:
    print(
        f"  {label}  {mode.label:<16} {target.server.name:<9} {measurement.megabytes_per_second:8.1f} MB/s  "
        f"peak RSS {mib(measurement.peak_rss_bytes):6.1f} MiB",
        flush=True,
    )


def print_table(results: Results, modes: list[Mode], size: int, repeat: int) -> None:
    print()
    print(f"{mib(size):.0f} MiB per upload; median of {repeat} runs; MB = 10**6 bytes; peak RSS = highest of the runs")
    print(
        f"RSS at start: tusmedia {mib(results.start_rss_bytes['tusmedia']):.1f} MiB, "
        f"baseline {mib(results.start_rss_bytes['baseline']):.1f} MiB"
    )
    columns = ("tusmedia MB/s", "baseline MB/s", "ratio", "tusmedia peak", "baseline peak")
    header = f"{'mode':<16} " + " ".join(f"{column:>13}" for column in columns)
    print(header)
    print("-" * len(header))
    for mode in modes:
        tusmedia = results.median_throughput(mode, "tusmedia")
        baseline = results.median_throughput(mode, "baseline")
        print(
            f"{mode.label:<16} {tusmedia:>13.1f} {baseline:>13.1f} {tusmedia / baseline:>13.2f} "
            f"{mib(results.peak_rss(mode, 'tusmedia')):>9.1f} MiB {mib(results.peak_rss(mode, 'baseline')):>9.1f} MiB"
        )


def parse_arguments(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=1024, help="bytes per upload, in MiB (default: 1024)")
    parser.add_argument("--chunk-mib", type=int, default=8, help="PATCH size of the chunked mode, in MiB (default: 8)")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement (default: 3)")
    parser.add_argument(
        "--baseline-server", nargs=2, metavar=("PORT", "DIR"), help="internal: serve the baseline app and exit"
    )
    arguments = parser.parse_args(argv)
    if min(arguments.size_mib, arguments.chunk_mib, arguments.repeat) < 1:
        parser.error("--size-mib, --chunk-mib and --repeat must be at least 1")
    return arguments


def main(argv: list[str] | None = None) -> int:
    arguments = parse_arguments(argv)
    if arguments.baseline_server:
        port, directory = arguments.baseline_server
        run_baseline_server(int(port), Path(directory))
        return 0

    size = arguments.size_mib * MIB
    modes = [Mode("single PATCH", size), Mode(f"{arguments.chunk_mib} MiB chunks", arguments.chunk_mib * MIB)]
    work_dir = Path(tempfile.mkdtemp(prefix="tusmedia-bench-", dir="/tmp"))
    servers: list[ServerProcess] = []
    try:
        servers.append(start_tusmedia(work_dir, max_file_size=size))
        servers.append(start_baseline(work_dir))
        targets: list[UploadTarget] = [
            TusTarget(servers[0], servers[0].data_dir / "uploads"),
            BaselineTarget(servers[1]),
        ]
        results = run_benchmark(targets, modes, size, arguments.repeat)
        print_table(results, modes, size, arguments.repeat)
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(work_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
