"""The less common faults end in a known state: a completion the database refused, a job deleted or
taken over while it runs, jobs over their time limit. Each through real servers, workers and files.

Faults are injected from outside the server: another connection holds SQLite's write lock (with
``SQLITE_BUSY_TIMEOUT`` short, so the server's write fails as it would after 30 s), a worker is
frozen with SIGSTOP, and ``MEDIA_PROCESSING_DELAY`` makes chosen files slow inside their child.
"""

from __future__ import annotations

import base64
import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import psutil
import pytest

from tests.database_choice import sqlite_write_locked
from tests.servers import (
    TESTDATA_MEDIA,
    TUS,
    Server,
    create_upload,
    derivatives_on_disk,
    process_env,
    start_process,
    start_server,
    upload_bytes,
    wait_for_asset,
)

OCTETS = {"Content-Type": "application/offset+octet-stream"}
PHOTO = (TESTDATA_MEDIA / "hopper.jpg").read_bytes()
# Writes fail fast while the test holds the lock; nothing sweeps unless the test asks it to. SQLite's
# own lock, so on SQLite on every run.
MEDIA_WORKER_CONCURRENCY = 2
LOCKABLE = {"DATABASE": "sqlite", "SQLITE_BUSY_TIMEOUT": "0.3", "RECOVERY_INTERVAL": "3600"}


def _asset(http: httpx.Client, server: Server, upload_id: str) -> dict:
    response = http.get(f"{server.base_url}/api/assets/{upload_id}")
    assert response.status_code == 200, response.text
    return response.json()


def _events(asset: dict) -> list[str]:
    return [event["event"] for event in asset["events"]]


def _last_byte_while_locked(http: httpx.Client, server: Server) -> tuple[str, str]:
    """An upload whose last byte lands while the database refuses writes; its location and id."""
    location = create_upload(
        http, server, len(PHOTO), **{"Upload-Metadata": f"filename {base64.b64encode(b'photo.jpg').decode()}"}
    )
    upload_id = location.rsplit("/", 1)[1]
    http.patch(location, headers={**TUS, **OCTETS, "Upload-Offset": "0"}, content=PHOTO[:1000])
    with sqlite_write_locked(server.data_dir):
        response = http.patch(location, headers={**TUS, **OCTETS, "Upload-Offset": "1000"}, content=PHOTO[1000:])
        # The bytes are stored and the client's part is done, whatever the database said.
        assert (response.status_code, response.headers["Upload-Offset"]) == (204, str(len(PHOTO)))
        assert _asset(http, server, upload_id)["status"] == "uploading"
    time.sleep(1)
    assert _asset(http, server, upload_id)["status"] == "uploading", "nothing else completes it unasked"
    return location, upload_id


def _complete_by_ietf_patch(http: httpx.Client, location: str) -> None:
    headers = {
        "Upload-Draft-Interop-Version": "8",
        "Upload-Complete": "?1",
        "Content-Type": "application/partial-upload",
        "Upload-Offset": str(len(PHOTO)),
    }
    assert http.patch(location, headers=headers, content=b"").status_code == 204


@pytest.mark.parametrize(
    "later_request",
    [
        lambda http, location: http.head(location, headers=TUS),
        lambda http, location: http.head(location, headers={"Upload-Draft-Interop-Version": "8"}),
        _complete_by_ietf_patch,
    ],
    ids=["tus-head", "ietf-head", "ietf-empty-complete-patch"],
)
def test_a_completion_the_database_refused_is_recorded_by_the_next_request(
    server_with: Callable[..., Server], http: httpx.Client, later_request: Callable[[httpx.Client, str], object]
) -> None:
    server = server_with(**LOCKABLE)
    location, upload_id = _last_byte_while_locked(http, server)

    later_request(http, location)

    asset = wait_for_asset(http, server, upload_id)
    assert asset["status"] == "ready"
    assert _events(asset) == ["created", "received", "queued", "started", "ready"]


def test_a_completion_the_database_refused_is_recorded_by_the_sweep_at_start_up(
    server_with: Callable[..., Server], http: httpx.Client
) -> None:
    server = server_with(**LOCKABLE)
    _, upload_id = _last_byte_while_locked(http, server)
    server.stop()

    # RECOVERY_INTERVAL stays an hour and nothing asks about the upload (the status API does not
    # complete uploads): only the sweep at start-up can record the completion.
    restarted = start_server(server.data_dir, LOCKABLE)
    try:
        asset = wait_for_asset(http, restarted, upload_id)
    finally:
        restarted.stop()
    assert (asset["status"], _events(asset).count("queued")) == ("ready", 1)


def test_the_periodic_sweep_completes_an_upload_nobody_asks_about(
    server_with: Callable[..., Server], http: httpx.Client
) -> None:
    server = server_with(**{**LOCKABLE, "RECOVERY_INTERVAL": "0.5"})
    location = create_upload(http, server, len(PHOTO))
    upload_id = location.rsplit("/", 1)[1]

    with sqlite_write_locked(server.data_dir):
        response = http.patch(location, headers={**TUS, **OCTETS, "Upload-Offset": "0"}, content=PHOTO)
        assert response.status_code == 204
        time.sleep(1)  # sweeps run meanwhile and fail on the lock; they must try again
    asset = wait_for_asset(http, server, upload_id, timeout=20)

    assert asset["status"] == "ready"
    assert "could not queue" in server.log()


def test_deleting_an_asset_while_it_is_processed_leaves_no_derivatives(
    server_with: Callable[..., Server], http: httpx.Client
) -> None:
    server = server_with(MEDIA_PROCESSING_DELAY="1.5")
    upload_id = upload_bytes(http, server, PHOTO, "hopper.jpg")
    assert wait_for_asset(http, server, upload_id, ("processing",))["status"] == "processing"

    assert http.delete(f"{server.files_url}{upload_id}", headers=TUS).status_code == 204
    time.sleep(3)  # the job finishes its work after the delete

    derivatives = server.data_dir / "derivatives"
    assert sorted(path.name for path in derivatives.iterdir()) == []
    assert http.get(f"{server.base_url}/api/assets/{upload_id}").status_code == 404
    assert "deleted or taken over meanwhile" in server.log()


def test_a_result_the_database_refuses_is_retried_and_recorded_once(
    server_with: Callable[..., Server], http: httpx.Client
) -> None:
    server = server_with(
        DATABASE="sqlite",
        SQLITE_BUSY_TIMEOUT="0.3",
        MEDIA_PROCESSING_DELAY="1",
        MEDIA_LEASE="1.5",
        RECOVERY_INTERVAL="0.3",
    )
    upload_id = upload_bytes(http, server, PHOTO, "hopper.jpg")
    assert wait_for_asset(http, server, upload_id, ("processing",))["status"] == "processing"

    with sqlite_write_locked(server.data_dir):
        time.sleep(2.5)  # the job ends meanwhile: neither its result nor its lease can be written
    asset = wait_for_asset(http, server, upload_id, timeout=30)

    assert asset["status"] == "ready", asset
    assert _events(asset).count("ready") == 1
    assert asset["attempts"] >= 2
    assert derivatives_on_disk(server.data_dir, upload_id) == (sorted(asset["derivatives"]), [])


def _processing_children(server: Server) -> list[psutil.Process]:
    """The server's processing children still alive: the fork server's children."""
    descendants = psutil.Process(server.process.pid).children(recursive=True)
    fork_servers = [child for child in descendants if "forkserver" in " ".join(child.cmdline())]
    return [child for fork_server in fork_servers for child in fork_server.children()]


def test_jobs_over_their_time_limit_are_killed_and_the_jobs_after_them_run(
    server_with: Callable[..., Server], http: httpx.Client
) -> None:
    server = server_with(
        MEDIA_JOB_TIME_LIMIT="1",
        MEDIA_PROCESSING_DELAY="60",
        MEDIA_PROCESSING_DELAY_NAMES="slow-*",
        MEDIA_WORKER_CONCURRENCY=str(MEDIA_WORKER_CONCURRENCY),
    )
    started = time.monotonic()
    slow = [upload_bytes(http, server, PHOTO, f"slow-{index}.jpg") for index in range(5)]
    normal = [upload_bytes(http, server, PHOTO, f"photo-{index}.jpg") for index in range(5)]

    finished = {upload_id: wait_for_asset(http, server, upload_id, timeout=40) for upload_id in slow + normal}
    elapsed = time.monotonic() - started

    assert [finished[upload_id]["status"] for upload_id in normal] == ["ready"] * 5
    assert {(finished[upload_id]["status"], finished[upload_id]["error"]) for upload_id in slow} == {
        ("failed", "timed out after 1 s")
    }
    assert elapsed < 30, "five one-second time limits on two workers take seconds, not the slow jobs' minute"
    # Children are kept between jobs, one per job running at a time: the five timed-out ones, each
    # asleep for a minute, would still be alive here had they not been killed.
    deadline = time.monotonic() + 5
    while len(_processing_children(server)) > MEDIA_WORKER_CONCURRENCY and time.monotonic() < deadline:
        time.sleep(0.1)
    children = _processing_children(server)
    # At least one: the normal jobs' children stay for the next jobs, which also shows this finds them.
    assert 1 <= len(children) <= MEDIA_WORKER_CONCURRENCY, "a timed-out job's process is killed, not left running"
    assert derivatives_on_disk(server.data_dir, slow[0])[1] == [], "no scratch folder outlives its job"


def test_an_attempt_that_lost_its_lease_while_frozen_records_nothing(
    tmp_path: Path, redis_settings: dict[str, str], http: httpx.Client
) -> None:
    data_dir = tmp_path / "data"
    settings = {**redis_settings, "MEDIA_LEASE": "1", "RECOVERY_INTERVAL": "0.3"}
    server = start_server(data_dir, settings)
    frozen = start_process(
        ["worker"], process_env(data_dir, {**settings, "MEDIA_PROCESSING_DELAY": "2"}), data_dir / "frozen.log"
    )
    fresh = None
    try:
        upload_id = upload_bytes(http, server, PHOTO, "hopper.jpg")
        assert wait_for_asset(http, server, upload_id, ("processing",), timeout=20)["status"] == "processing"
        frozen.process.send_signal(signal.SIGSTOP)  # its child works on; it cannot renew its lease
        fresh = start_process(["worker"], process_env(data_dir, settings), data_dir / "fresh.log")
        asset = wait_for_asset(http, server, upload_id, timeout=30)
        time.sleep(3)  # the frozen worker's child has finished by now
        frozen.process.send_signal(signal.SIGCONT)
        time.sleep(2)  # and the thawed worker has acted on it
        asset = _asset(http, server, upload_id)
    finally:
        frozen.process.send_signal(signal.SIGCONT)
        if fresh is not None:
            fresh.stop()
        frozen.stop()
        server.stop()

    assert (asset["status"], asset["attempts"]) == ("ready", 2), asset
    assert _events(asset) == ["created", "received", "queued", "started", "started", "ready"]
    assert derivatives_on_disk(data_dir, upload_id) == (sorted(asset["derivatives"]), [])
    assert "lost its lease" in frozen.log() or "deleted or taken over meanwhile" in frozen.log()
