"""The embedded worker: with no broker configured, the actors run in a child process of the server,
which the server starts again when it dies, and whose lost jobs the recovery sweep sends again."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil

from tests.servers import TESTDATA_MEDIA, Server, derivatives_on_disk, upload_bytes, wait_for_asset

PHOTO = (TESTDATA_MEDIA / "hopper.jpg").read_bytes()
# Libraries a server on the embedded defaults has no use for: asyncpg (PostgreSQL) and cryptography
# (JWT, TLS to Redis). Imported, they would be mapped; their absence is most of its memory saving.
UNCONFIGURED_LIBRARIES = ("asyncpg/protocol", "cryptography/hazmat/bindings")


def _embedded_workers(server: Server) -> list[psutil.Process]:
    """The server's children that run the actors (started by multiprocessing's spawn)."""
    workers = []
    for child in psutil.Process(server.process.pid).children():
        with contextlib.suppress(psutil.ZombieProcess, psutil.NoSuchProcess):  # one killed, not yet reaped
            if "spawn_main" in " ".join(child.cmdline()):
                workers.append(child)
    return workers


def _wait_for_worker(server: Server, other_than: int | None = None, timeout: float = 15) -> psutil.Process:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        workers = [worker for worker in _embedded_workers(server) if worker.pid != other_than]
        if workers:
            return workers[0]
        time.sleep(0.05)
    raise AssertionError(f"no embedded worker (other than {other_than}) within {timeout:g} s")


def test_jobs_run_in_one_child_of_the_server_which_loads_no_client_it_was_not_configured_for(
    server_with: Callable[..., Server], http: httpx.Client
) -> None:
    server = server_with(DATABASE="sqlite")  # the embedded defaults, whatever the run's database
    upload_id = upload_bytes(http, server, PHOTO, "hopper.jpg")

    asset = wait_for_asset(http, server, upload_id)

    assert asset["status"] == "ready", asset["error"]
    assert len(_embedded_workers(server)) == 1
    mapped = Path(f"/proc/{server.process.pid}/maps").read_text()
    assert [library for library in UNCONFIGURED_LIBRARIES if library in mapped] == []


def test_a_killed_embedded_worker_is_started_again_and_its_job_is_not_lost(
    server_with: Callable[..., Server], http: httpx.Client
) -> None:
    server = server_with(
        MEDIA_PROCESSING_DELAY="2",
        MEDIA_PROCESSING_DELAY_NAMES="slow-*",
        MEDIA_LEASE="2",
        RECOVERY_INTERVAL="0.5",
    )
    first = _wait_for_worker(server)
    interrupted = upload_bytes(http, server, PHOTO, "slow-1.jpg")
    assert wait_for_asset(http, server, interrupted, ("processing",))["status"] == "processing"

    os.kill(first.pid, signal.SIGKILL)
    second = _wait_for_worker(server, other_than=first.pid)
    later = upload_bytes(http, server, PHOTO, "photo.jpg")

    assert wait_for_asset(http, server, later, timeout=30)["status"] == "ready"
    # The killed attempt's lease runs out, the sweep sends the job again, and the new child runs it.
    resumed = wait_for_asset(http, server, interrupted, timeout=30)
    assert (resumed["status"], resumed["attempts"]) == ("ready", 2), resumed
    assert [worker.pid for worker in _embedded_workers(server)] == [second.pid]
    assert server.process.poll() is None, "the server itself kept serving"
    # The killed attempt's folder goes with a sweep once the row has moved on to attempt 2.
    deadline = time.monotonic() + 10
    while derivatives_on_disk(server.data_dir, interrupted)[1] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert derivatives_on_disk(server.data_dir, interrupted) == (sorted(resumed["derivatives"]), [])
