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
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol

import httpx
import psutil

REPO_ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
MIB = 1024 * 1024
MB = 1_000_000
TUS = {"Tus-Resumable": "1.0.0"}
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
RSS_SAMPLE_SECONDS = 0.05
START_TIMEOUT_SECONDS = 30
STOP_TIMEOUT_SECONDS = 10
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


@dataclass
class ServerProcess:
    name: str
    process: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT_SECONDS)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return probe.getsockname()[1]


def embedded_env(data_dir: Path, max_file_size: int) -> dict[str, str]:
    # Without these URLs tusmedia uses SQLite and its in-process media worker: nothing outside this run.
    env = {key: value for key, value in os.environ.items() if key not in ("REDIS_URL", "BROKER_URL", "DATABASE_URL")}
    env.update({"DATA_DIR": str(data_dir), "LOG_LEVEL": "warning", "PYTHONUNBUFFERED": "1"})
    env["MAX_FILE_SIZE"] = str(max_file_size)
    return env


def start_server(name: str, arguments: list[str], port: int, data_dir: Path, env: dict[str, str]) -> ServerProcess:
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir.parent / f"{name}.log"
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, *arguments], cwd=REPO_ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT
        )
    server = ServerProcess(name, process, port, data_dir, log_path)
    try:
        wait_until_listening(server)
    except BaseException:
        server.stop()
        raise
    return server


def wait_until_listening(server: ServerProcess) -> None:
    # uvicorn binds its socket only after the lifespan startup, so an accepted connection means ready.
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {server.process.returncode}:\n{read_log(server)}")
        try:
            with socket.create_connection((HOST, server.port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{server.name} did not listen within {START_TIMEOUT_SECONDS}s:\n{read_log(server)}")


def read_log(server: ServerProcess) -> str:
    return server.log_path.read_text(errors="replace")


def start_tusmedia(work_dir: Path, max_file_size: int) -> ServerProcess:
    port = free_port()
    data_dir = work_dir / "tusmedia"
    arguments = ["-m", "app.cli", "serve", "--port", str(port)]
    return start_server("tusmedia", arguments, port, data_dir, embedded_env(data_dir, max_file_size))


def start_baseline(work_dir: Path) -> ServerProcess:
    port = free_port()
    data_dir = work_dir / "baseline"
    arguments = [str(Path(__file__).resolve()), "--baseline-server", str(port), str(data_dir)]
    return start_server("baseline", arguments, port, data_dir, embedded_env(data_dir, 0))


# --- memory sampling -------------------------------------------------------------------------------------------


def rss_bytes(process: psutil.Process) -> int:
    return process.memory_info().rss


class PeakRssSampler:
    """Samples a process's RSS in a background thread while the ``with`` block runs; keeps the peak."""

    def __init__(self, pid: int) -> None:
        self._process = psutil.Process(pid)
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._sample_until_stopped, daemon=True)
        self.peak_bytes = 0

    def __enter__(self) -> PeakRssSampler:
        self._record()
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self._stopped.set()
        self._thread.join(timeout=5)
        self._record()

    def _sample_until_stopped(self) -> None:
        while not self._stopped.wait(RSS_SAMPLE_SECONDS):
            self._record()

    def _record(self) -> None:
        self.peak_bytes = max(self.peak_bytes, rss_bytes(self._process))


# --- uploading -------------------------------------------------------------------------------------------------


def generated_body(length: int, block: bytes) -> Iterator[bytes]:
    """``length`` bytes made of ``block`` repeated: streamed, never materialised whole."""
    remaining = length
    while remaining > 0:
        piece = block if remaining >= len(block) else block[:remaining]
        remaining -= len(piece)
        yield piece


class UploadTarget(Protocol):
    server: ServerProcess

    def create(self, client: httpx.Client, size: int) -> str:
        """Prepare an upload of ``size`` bytes; returns the URL to PATCH."""
        ...

    def check_patched(self, response: httpx.Response, expected_offset: int) -> None: ...

    def stored_path(self, url: str) -> Path: ...

    def discard(self, client: httpx.Client, url: str) -> None: ...


@dataclass
class TusmediaTarget:
    server: ServerProcess

    def create(self, client: httpx.Client, size: int) -> str:
        response = client.post(f"{self.server.base_url}/files/", headers={**TUS, "Upload-Length": str(size)})
        expect_status(response, 201)
        return str(response.url.join(response.headers["Location"]))

    def check_patched(self, response: httpx.Response, expected_offset: int) -> None:
        expect_status(response, 204)
        if response.headers.get("Upload-Offset") != str(expected_offset):
            raise AssertionError(f"Upload-Offset {response.headers.get('Upload-Offset')}, expected {expected_offset}")

    def stored_path(self, url: str) -> Path:
        return self.server.data_dir / "uploads" / url.rsplit("/", 1)[1]

    def discard(self, client: httpx.Client, url: str) -> None:
        # Deleting keeps the disk usage to one upload and lets the kernel drop the dirty pages unwritten.
        expect_status(client.delete(url, headers=TUS), 204)


@dataclass
class BaselineTarget:
    server: ServerProcess

    def create(self, client: httpx.Client, size: int) -> str:
        return f"{self.server.base_url}/files/{uuid.uuid4().hex}"

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
            results.start_rss_bytes[target.server.name] = rss_bytes(psutil.Process(target.server.process.pid))
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


def mib(size: int) -> float:
    return size / MIB


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
        targets: list[UploadTarget] = [TusmediaTarget(servers[0]), BaselineTarget(servers[1])]
        results = run_benchmark(targets, modes, size, arguments.repeat)
        print_table(results, modes, size, arguments.repeat)
    finally:
        for server in servers:
            server.stop()
        shutil.rmtree(work_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
