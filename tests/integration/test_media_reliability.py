"""No job is lost or done twice: event history, time limits, reprocessing, and a worker killed mid-job."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil
import redis

from config import load_settings
from tests.conftest import REDIS_TEST_URL
from tests.database_choice import fetch_rows
from tests.servers import (
    REPO_ROOT,
    TESTDATA_MEDIA,
    Server,
    derivatives_on_disk,
    process_env,
    start_process,
    start_server,
    upload_bytes,
    wait_for_asset,
)
from workers.broker import create_broker
from workers.media import declare_actors


def _events(asset: dict) -> list[str]:
    return [event["event"] for event in asset["events"]]


def _reprocess(data_dir: Path, *arguments: str, settings: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "reprocess", *arguments],
        cwd=REPO_ROOT,
        env=process_env(data_dir, settings),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_an_asset_keeps_its_event_history(shared_server: Server, http: httpx.Client) -> None:
    upload_id = upload_bytes(http, shared_server, (TESTDATA_MEDIA / "hopper.jpg").read_bytes())

    asset = wait_for_asset(http, shared_server, upload_id)

    assert _events(asset) == ["created", "received", "queued", "started", "ready"]
    assert asset["events"][1]["detail"] == f"{asset['length']} bytes"
    assert all(event["at"].endswith("Z") for event in asset["events"])


def test_a_job_over_its_time_limit_fails_timed_out_and_reprocess_failed_brings_it_back(
    tmp_path: Path, http: httpx.Client
) -> None:
    data_dir = tmp_path / "data"
    slow = start_server(data_dir, {"MEDIA_PROCESSING_DELAY": "3", "MEDIA_JOB_TIME_LIMIT": "1"})
    try:
        upload_id = upload_bytes(http, slow, (TESTDATA_MEDIA / "hopper.png").read_bytes())
        failed = wait_for_asset(http, slow, upload_id)
    finally:
        slow.stop()
    assert (failed["status"], failed["error"], failed["attempts"]) == ("failed", "timed out after 1 s", 1)

    server = start_server(data_dir, {"RECOVERY_INTERVAL": "0.5"})
    try:
        output = _reprocess(data_dir, "--failed")
        assert "queued 1 asset(s)" in output
        asset = wait_for_asset(http, server, upload_id, timeout=20)
    finally:
        server.stop()

    assert (asset["status"], asset["error"], asset["attempts"]) == ("ready", None, 2)
    assert _events(asset) == ["created", "received", "queued", "started", "failed", "queued", "started", "ready"]
    assert asset["events"][5]["detail"] == "reprocess requested"


def test_reprocessing_a_ready_asset_replaces_its_derivatives(
    server_with: Callable[..., Server], http: httpx.Client
) -> None:
    server = server_with(RECOVERY_INTERVAL="0.5")
    upload_id = upload_bytes(http, server, (TESTDATA_MEDIA / "hopper.jpg").read_bytes())
    first = wait_for_asset(http, server, upload_id)
    folder = server.data_dir / "derivatives" / upload_id
    before = {path.name: path.stat().st_ino for path in folder.iterdir()}

    assert "queued 1 asset(s)" in _reprocess(server.data_dir, upload_id)
    deadline = time.monotonic() + 20
    asset = first
    while time.monotonic() < deadline and _events(asset).count("ready") < 2:
        time.sleep(0.1)
        asset = http.get(f"{server.base_url}/api/assets/{upload_id}").json()

    assert _events(asset).count("ready") == 2
    after = {path.name: path.stat().st_ino for path in folder.iterdir()}
    assert sorted(after) == sorted(before) == sorted(asset["derivatives"])
    assert all(after[name] != before[name] for name in after), "every derivative was written anew"
    leftovers = [path.name for path in folder.parent.iterdir() if path.name.startswith(".")]
    assert leftovers == []


def test_reprocess_refuses_without_ids_or_failed(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "app.cli", "reprocess"],
        cwd=REPO_ROOT,
        env=process_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 2
    assert "--failed" in result.stderr


def _descendants_once_a_child_processes(pid: int, timeout: float = 10) -> list[psutil.Process]:
    """The worker's processes once its job runs in a processing child (forked by the fork server, so
    a grandchild): the row says ``processing`` from the claim, a moment before the child exists."""
    deadline = time.monotonic() + timeout
    while True:
        descendants = psutil.Process(pid).children(recursive=True)
        pids = {process.pid for process in descendants}
        if any(process.ppid() in pids for process in descendants) or time.monotonic() > deadline:
            return descendants
        time.sleep(0.05)


def _running_after(processes: list[psutil.Process], seconds: float) -> list[psutil.Process]:
    """Those still running after ``seconds``. A dead one no parent has reaped yet (a zombie: an orphan
    handed to a PID 1 that reaps slowly) runs nothing."""
    deadline = time.monotonic() + seconds
    while True:
        running = []
        for process in processes:
            try:
                if process.status() != psutil.STATUS_ZOMBIE:
                    running.append(process)
            except psutil.NoSuchProcess:
                pass
        if not running or time.monotonic() > deadline:
            return running
        time.sleep(0.05)


def test_a_worker_killed_mid_job_is_replaced_and_the_asset_is_processed_exactly_once(
    tmp_path: Path, broker_settings: dict[str, str], http: httpx.Client
) -> None:
    data_dir = tmp_path / "data"
    # A short lease, so the lost job is found again quickly. (RabbitMQ hands the dead worker's message
    # to the next one at once; the lease still held then makes that attempt wait for the sweep.)
    settings = {**broker_settings, "MEDIA_LEASE": "2", "RECOVERY_INTERVAL": "0.5"}
    server = start_server(data_dir, settings)
    slow_worker = start_process(
        ["worker"], process_env(data_dir, {**settings, "MEDIA_PROCESSING_DELAY": "4"}), data_dir / "slow.log"
    )
    fresh_worker = None
    try:
        upload_id = upload_bytes(http, server, (TESTDATA_MEDIA / "hopper.jpg").read_bytes())
        assert wait_for_asset(http, server, upload_id, ("processing",), timeout=20)["status"] == "processing"
        descendants = _descendants_once_a_child_processes(slow_worker.process.pid)
        slow_worker.process.send_signal(signal.SIGKILL)
        slow_worker.process.wait(10)
        # Its fork server and the processing child mid-job go with it (the job had seconds to run).
        outliving = _running_after(descendants, 2)

        fresh_worker = start_process(["worker"], process_env(data_dir, settings), data_dir / "fresh.log")
        asset = wait_for_asset(http, server, upload_id, timeout=30)
        # A late duplicate (the broker redelivering the dead worker's message) must find nothing to do.
        time.sleep(1)
        asset = http.get(f"{server.base_url}/api/assets/{upload_id}").json()
    finally:
        if fresh_worker is not None:
            fresh_worker.stop()
        slow_worker.stop()
        server.stop()

    assert asset["status"] == "ready", asset
    assert _events(asset).count("ready") == 1
    assert _events(asset).count("started") == 2
    assert asset["attempts"] == 2
    assert len(descendants) >= 3 and outliving == [], "no process of the killed worker decodes on"
    assert derivatives_on_disk(data_dir, upload_id) == (sorted(asset["derivatives"]), [])


def test_the_same_message_sent_twice_through_redis_is_processed_once(
    tmp_path: Path, redis_settings: dict[str, str], http: httpx.Client
) -> None:
    data_dir = tmp_path / "data"
    server = start_server(data_dir, redis_settings)
    worker = None
    settings = load_settings(env_file=None, environ=process_env(data_dir, redis_settings))
    broker = create_broker(settings)
    try:
        upload_id = upload_bytes(http, server, (TESTDATA_MEDIA / "hopper.png").read_bytes())
        declare_actors(broker, settings).process_media.send(upload_id)  # a duplicate of the server's message
        queue = f"dramatiq:{redis_settings['QUEUE_NAMESPACE']}.media"
        assert redis.Redis.from_url(REDIS_TEST_URL).llen(queue) == 2
        worker = start_process(["worker"], process_env(data_dir, redis_settings), data_dir / "worker.log")
        wait_for_asset(http, server, upload_id)
        time.sleep(1)  # time for the second message to be consumed too
        asset = http.get(f"{server.base_url}/api/assets/{upload_id}").json()
    finally:
        broker.close()
        if worker is not None:
            worker.stop()
        server.stop()

    assert asset["status"] == "ready"
    assert (_events(asset).count("started"), _events(asset).count("ready"), asset["attempts"]) == (1, 1, 1)


def test_a_job_longer_than_its_lease_keeps_it_and_runs_once(
    server_with: Callable[..., Server], http: httpx.Client
) -> None:
    # Without renewal the sweep would find the lease expired after 1 s and start the job a second time.
    server = server_with(MEDIA_LEASE="1", MEDIA_PROCESSING_DELAY="3", RECOVERY_INTERVAL="0.3")
    upload_id = upload_bytes(http, server, (TESTDATA_MEDIA / "hopper.png").read_bytes())
    leases = set()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        ((status, lease_until),) = fetch_rows(
            server.data_dir, "SELECT status, lease_until FROM uploads WHERE id = ?", upload_id
        )
        if status in ("ready", "failed"):
            break
        if lease_until is not None:
            leases.add(lease_until)
        time.sleep(0.05)

    asset = wait_for_asset(http, server, upload_id, timeout=20)
    assert asset["status"] == "ready"
    assert (_events(asset).count("started"), asset["attempts"]) == (1, 1)
    # The job outlived its first lease several times over, renewing it as it went.
    assert len(leases) >= 4
    assert asset["processing_time_ms"] >= 3000


def _processing_children_niceness(server: Server) -> list[int]:
    """The niceness of each processing child (the fork server's children) of the server, as they are now."""
    niceness = []
    for process in psutil.Process(server.process.pid).children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            parent = process.parent()
            if parent is not None and "forkserver" in " ".join(parent.cmdline()):
                niceness.append(process.nice())
    return niceness


def test_media_is_processed_at_a_lower_cpu_priority_than_the_server_serves_uploads(
    tmp_path: Path, http: httpx.Client
) -> None:
    server = start_server(tmp_path / "data", {"MEDIA_PROCESSING_DELAY": "3", "MEDIA_NICENESS": "7"})
    try:
        expected = min(19, psutil.Process(server.process.pid).nice() + 7)
        upload_id = upload_bytes(http, server, (TESTDATA_MEDIA / "hopper.png").read_bytes())
        seen: list[int] = []
        deadline = time.monotonic() + 10
        # A child just forked still has its parent's niceness for a moment, until it lowers its own.
        while expected not in seen and time.monotonic() < deadline:
            seen = _processing_children_niceness(server)
            time.sleep(0.05)
        during_processing = psutil.Process(server.process.pid).nice()
        asset = wait_for_asset(http, server, upload_id)
    finally:
        server.stop()

    assert seen == [expected], "one processing child, seven steps nicer than the server"
    assert during_processing == expected - 7, "the server itself keeps its priority"
    assert asset["status"] == "ready"
