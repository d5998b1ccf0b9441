"""What every benchmark here shares: server subprocesses on loopback, their memory and CPU, generated bodies.

Not a test helper: benchmarks run as scripts (``python benchmarks/<name>.py``), so this module is imported
from the same folder and imports nothing of the project's tests.
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import psutil

REPO_ROOT = Path(__file__).resolve().parent.parent
HOST = "127.0.0.1"
MIB = 1024 * 1024
MB = 1_000_000
TUS = {"Tus-Resumable": "1.0.0"}
OFFSET_CONTENT_TYPE = "application/offset+octet-stream"
RSS_SAMPLE_SECONDS = 0.05
START_TIMEOUT_SECONDS = 60
STOP_TIMEOUT_SECONDS = 10


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

    @property
    def pid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT_SECONDS)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def embedded_env(data_dir: Path, **settings: str) -> dict[str, str]:
    """tusmedia's environment on embedded defaults: SQLite and the in-process worker, nothing outside the run."""
    env = {key: value for key, value in os.environ.items() if key not in ("REDIS_URL", "BROKER_URL", "DATABASE_URL")}
    env.update({"DATA_DIR": str(data_dir), "LOG_LEVEL": "warning", "PYTHONUNBUFFERED": "1", **settings})
    return env


def start_server(
    name: str, command: Sequence[str], port: int, data_dir: Path, env: dict[str, str], cwd: Path = REPO_ROOT
) -> ServerProcess:
    """Starts ``command`` (its log beside ``data_dir``) and returns once it accepts connections."""
    data_dir.mkdir(parents=True, exist_ok=True)
    log_path = data_dir.parent / f"{name}.log"
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(list(command), cwd=cwd, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    server = ServerProcess(name, process, port, data_dir, log_path)
    try:
        wait_until_listening(server)
    except BaseException:
        server.stop()
        raise
    return server


def python_command(*arguments: str) -> list[str]:
    return [sys.executable, *arguments]


def wait_until_listening(server: ServerProcess) -> None:
    # uvicorn and Node bind their socket only once started, so an accepted connection means ready.
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"{server.name} exited with {server.process.returncode}:\n{server.log()}")
        try:
            with socket.create_connection((HOST, server.port), timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"{server.name} did not listen within {START_TIMEOUT_SECONDS}s:\n{server.log()}")


def rss_bytes(pid: int) -> int:
    return int(psutil.Process(pid).memory_info().rss)


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of the process itself (its threads included, its children not)."""
    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


def descendants_cpu_seconds(pid: int) -> float:
    """CPU time of the process's living descendants and of the children they have reaped: for tusmedia,
    its embedded worker and the processing children (kept between jobs, so alive to be asked)."""
    total = 0.0
    for child in psutil.Process(pid).children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.Error:
            continue  # ended meanwhile
        total += times.user + times.system + times.children_user + times.children_system
    return total


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
        self.peak_bytes = max(self.peak_bytes, int(self._process.memory_info().rss))


def generated_body(length: int, block: bytes) -> Iterator[bytes]:
    """``length`` bytes made of ``block`` repeated: streamed, never materialised whole."""
    remaining = length
    while remaining > 0:
        piece = block if remaining >= len(block) else block[:remaining]
        remaining -= len(piece)
        yield piece


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile: the smallest value with at least ``fraction`` of the values at or below it."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * fraction // 1))
    return ordered[int(rank) - 1]


def median(values: Sequence[float]) -> float:
    return float(statistics.median(values))


def mib(size: float) -> float:
    return size / MIB
