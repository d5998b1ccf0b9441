"""Resumption that survives real networks and crashes: stalled clients, racing clients, kill -9,
SIGTERM, a full disk, and a second server process."""

from __future__ import annotations

import hashlib
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from tusclient import client as tus_client

from tests.servers import TUS, Server, StalledPatch, create_upload, start_server

OCTETS = {"Content-Type": "application/offset+octet-stream"}
MIB = 1024 * 1024


@pytest.fixture
def stalled() -> Iterator[Callable[..., StalledPatch]]:
    opened: list[StalledPatch] = []

    def open_one(*args: object, **kwargs: object) -> StalledPatch:
        patch = StalledPatch(*args, **kwargs)  # type: ignore[arg-type]
        opened.append(patch)
        return patch

    yield open_one
    for patch in opened:
        patch.close()


def _stored(server: Server, upload_id: str) -> bytes:
    return (server.data_dir / "uploads" / upload_id).read_bytes()


def _offset_settles_at(server: Server, upload_id: str, expected: int, timeout: float = 5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (server.data_dir / "uploads" / upload_id).stat().st_size == expected:
            return True
        time.sleep(0.02)
    return False


def test_a_stalled_patch_is_handed_over_to_the_next_request_within_a_second(
    server: Server, http: httpx.Client, stalled: Callable[..., StalledPatch]
) -> None:
    data = os.urandom(2 * MIB)
    half = MIB + 4321
    location = create_upload(http, server, len(data))
    upload_id = location.rsplit("/", 1)[1]
    old = stalled(server, upload_id, len(data), data[:half])
    assert _offset_settles_at(server, upload_id, half)

    started = time.monotonic()
    head = http.head(location, headers=TUS)
    handover = time.monotonic() - started

    assert head.status_code == 200
    assert head.headers["Upload-Offset"] == str(half)
    assert handover < 1.0, f"the hand-over took {handover:.3f} s"
    assert old.response().startswith("HTTP/1.1 400"), "the stalled request is answered, not left hanging"
    finish = http.patch(location, headers={**TUS, **OCTETS, "Upload-Offset": str(half)}, content=data[half:])
    assert (finish.status_code, finish.headers["Upload-Offset"]) == (204, str(len(data)))
    assert hashlib.sha256(_stored(server, upload_id)).digest() == hashlib.sha256(data).digest()


def test_a_stalled_patch_is_handed_over_to_a_resuming_patch(
    server: Server, http: httpx.Client, stalled: Callable[..., StalledPatch]
) -> None:
    data = os.urandom(MIB)
    location = create_upload(http, server, len(data))
    upload_id = location.rsplit("/", 1)[1]
    stalled(server, upload_id, len(data), data[:1000])
    assert _offset_settles_at(server, upload_id, 1000)

    resumed = http.patch(location, headers={**TUS, **OCTETS, "Upload-Offset": "1000"}, content=data[1000:])

    assert (resumed.status_code, resumed.headers["Upload-Offset"]) == (204, str(len(data)))
    assert _stored(server, upload_id) == data


def test_two_clients_racing_at_the_same_offset_one_wins_the_other_gets_a_clear_refusal(
    server: Server, http: httpx.Client
) -> None:
    length = 4 * MIB
    location = create_upload(http, server, length)
    bodies = [bytes([65 + index]) * length for index in range(2)]
    barrier = threading.Barrier(2)
    statuses: list[int] = [0, 0]

    def send(index: int) -> None:
        with httpx.Client(timeout=30) as client:
            barrier.wait()
            response = client.patch(location, headers={**TUS, **OCTETS, "Upload-Offset": "0"}, content=bodies[index])
            statuses[index] = response.status_code

    threads = [threading.Thread(target=send, args=(index,)) for index in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert sorted(statuses) in ([204, 409], [204, 423]), statuses
    winner = statuses.index(204)
    assert _stored(server, location.rsplit("/", 1)[1]) == bodies[winner]


def test_a_silent_client_is_ended_after_the_network_timeout_keeping_its_bytes(
    server_with: Callable[..., Server], http: httpx.Client, stalled: Callable[..., StalledPatch]
) -> None:
    server = server_with(NETWORK_TIMEOUT="1")
    location = create_upload(http, server, 1000)
    upload_id = location.rsplit("/", 1)[1]
    started = time.monotonic()

    answer = stalled(server, upload_id, 1000, b"x" * 300).response()

    assert answer.startswith("HTTP/1.1 503"), answer
    assert "upload-offset: 300" in answer.lower()
    assert 0.9 < time.monotonic() - started < 5
    assert http.head(location, headers=TUS).headers["Upload-Offset"] == "300"


def test_kill_9_during_a_patch_loses_nothing_written_and_tuspy_resumes_byte_identical(
    tmp_path: Path, http: httpx.Client, stalled: Callable[..., StalledPatch]
) -> None:
    data = os.urandom(3 * MIB)
    source = tmp_path / "source.bin"
    source.write_bytes(data)
    data_dir = tmp_path / "data"
    first = start_server(data_dir)
    location = create_upload(http, first, len(data))
    upload_id = location.rsplit("/", 1)[1]
    sent = MIB + 777
    stalled(first, upload_id, len(data), data[:sent])
    assert _offset_settles_at(first, upload_id, sent)

    first.process.send_signal(signal.SIGKILL)
    first.process.wait(10)
    second = start_server(data_dir)
    try:
        with source.open("rb") as stream:
            uploader = tus_client.TusClient(second.files_url).uploader(
                file_stream=stream, chunk_size=MIB, url=second.files_url + upload_id
            )
            assert uploader.offset == sent, "HEAD reports exactly the bytes on disk"
            uploader.upload()
    finally:
        second.stop()

    assert _stored(second, upload_id) == data


def test_sigterm_answers_open_patches_at_once_keeps_their_bytes_and_exits_within_the_grace(
    tmp_path: Path, http: httpx.Client, stalled: Callable[..., StalledPatch]
) -> None:
    data_dir = tmp_path / "data"
    server = start_server(data_dir, {"SHUTDOWN_GRACE": "20", "NETWORK_TIMEOUT": "600"})
    location = create_upload(http, server, 1000)
    upload_id = location.rsplit("/", 1)[1]
    open_patch = stalled(server, upload_id, 1000, b"y" * 400)
    assert _offset_settles_at(server, upload_id, 400)

    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    answer = open_patch.response()
    returncode = server.process.wait(20)
    stopped_after = time.monotonic() - started

    assert answer.startswith("HTTP/1.1 503"), answer
    assert stopped_after < 5, f"shutdown took {stopped_after:.1f} s although the open PATCH was answered"
    # uvicorn re-raises the SIGTERM it handled once it has shut down cleanly.
    assert returncode in (0, -signal.SIGTERM), server.log()
    again = start_server(data_dir)
    try:
        assert http.head(again.files_url + upload_id, headers=TUS).headers["Upload-Offset"] == "400"
    finally:
        again.stop()


def test_a_second_server_process_on_the_same_upload_directory_refuses_to_start(server: Server, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="already serves"):
        start_server(server.data_dir)


def test_a_full_disk_answers_507_keeps_a_consistent_offset_and_the_upload_resumes_when_room_returns(
    tmp_path: Path, small_disk: Path, http: httpx.Client
) -> None:
    filler = small_disk / "filler"
    filler.write_bytes(b"\0" * (3 * MIB // 2))
    server = start_server(tmp_path / "data", {"UPLOAD_DIR": str(small_disk / "uploads")})
    try:
        data = os.urandom(MIB)
        location = create_upload(http, server, len(data))
        upload_id = location.rsplit("/", 1)[1]

        full = http.patch(location, headers={**TUS, **OCTETS, "Upload-Offset": "0"}, content=data)

        assert full.status_code == 507, full.text
        assert "disk is full" in full.text
        kept = int(full.headers["Upload-Offset"])
        assert 0 < kept < len(data)
        stored = (small_disk / "uploads" / upload_id).read_bytes()
        assert stored == data[:kept], "the bytes on disk are exactly the client's, up to the offset"
        assert http.head(location, headers=TUS).headers["Upload-Offset"] == str(kept)

        filler.unlink()
        resumed = http.patch(location, headers={**TUS, **OCTETS, "Upload-Offset": str(kept)}, content=data[kept:])

        assert (resumed.status_code, resumed.headers["Upload-Offset"]) == (204, str(len(data)))
        assert (small_disk / "uploads" / upload_id).read_bytes() == data
    finally:
        server.stop()
