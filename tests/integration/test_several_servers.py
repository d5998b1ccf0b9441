"""Several server processes on one upload directory, database and Redis: locks and hand-overs are shared."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.servers import (
    TUS,
    Server,
    StalledPatch,
    create_upload,
    process_env,
    start_process,
    start_server,
    wait_for_asset,
)

OCTETS = {"Content-Type": "application/offset+octet-stream"}
MIB = 1024 * 1024


@pytest.fixture
def two_servers(tmp_path: Path, redis_settings: dict[str, str]) -> Iterator[tuple[Server, Server]]:
    data_dir = tmp_path / "data"
    first = start_server(data_dir, redis_settings)
    try:
        second = start_server(data_dir, redis_settings)
    except BaseException:
        first.stop()
        raise
    yield first, second
    second.stop()
    first.stop()


def test_chunks_alternate_between_two_server_processes_and_the_asset_gets_processed(
    two_servers: tuple[Server, Server],
    redis_settings: dict[str, str],
    http: httpx.Client,
) -> None:
    first, second = two_servers
    data = os.urandom(6 * MIB)
    upload_id = create_upload(http, first, len(data)).rsplit("/", 1)[1]

    for index, start in enumerate(range(0, len(data), MIB)):
        server = (first, second)[index % 2]
        assert http.head(server.files_url + upload_id, headers=TUS).headers["Upload-Offset"] == str(start)
        response = http.patch(
            server.files_url + upload_id,
            headers={**TUS, **OCTETS, "Upload-Offset": str(start)},
            content=data[start : start + MIB],
        )
        assert response.status_code == 204, response.text

    stored = (first.data_dir / "uploads" / upload_id).read_bytes()
    assert hashlib.sha256(stored).digest() == hashlib.sha256(data).digest()
    worker = start_process(["worker"], process_env(first.data_dir, redis_settings), first.data_dir / "worker.log")
    try:
        asset = wait_for_asset(http, second, upload_id)
    finally:
        worker.stop()
    assert (asset["status"], asset["length"]) == ("ready", len(data))


def test_a_request_stalled_on_one_server_is_handed_over_to_a_resume_on_the_other(
    two_servers: tuple[Server, Server], http: httpx.Client
) -> None:
    first, second = two_servers
    data = os.urandom(2 * MIB)
    half = MIB + 99
    upload_id = create_upload(http, first, len(data)).rsplit("/", 1)[1]
    stalled = StalledPatch(first, upload_id, len(data), data[:half])
    try:
        deadline = time.monotonic() + 5
        while (first.data_dir / "uploads" / upload_id).stat().st_size < half and time.monotonic() < deadline:
            time.sleep(0.02)

        started = time.monotonic()
        head = http.head(second.files_url + upload_id, headers=TUS)
        handover = time.monotonic() - started

        assert (head.status_code, head.headers["Upload-Offset"]) == (200, str(half))
        assert handover < 1.0, f"the hand-over between processes took {handover:.3f} s"
        assert stalled.response().startswith("HTTP/1.1 400")
    finally:
        stalled.close()
    response = http.patch(
        second.files_url + upload_id, headers={**TUS, **OCTETS, "Upload-Offset": str(half)}, content=data[half:]
    )
    assert (response.status_code, response.headers["Upload-Offset"]) == (204, str(len(data)))
    assert (first.data_dir / "uploads" / upload_id).read_bytes() == data


def test_a_busy_upload_on_another_server_answers_423_not_a_hang(
    two_servers: tuple[Server, Server], http: httpx.Client
) -> None:
    first, second = two_servers
    upload_id = create_upload(http, first, 10 * MIB).rsplit("/", 1)[1]
    # A live client trickling bytes is never taken for a dead one: the other server's request waits, then 423.
    stop = threading.Event()

    def trickle() -> None:
        with socket.create_connection(("127.0.0.1", first.port), timeout=30) as connection:
            connection.sendall(
                (
                    f"PATCH /files/{upload_id} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\n"
                    "Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\n"
                    f"Content-Length: {10 * MIB}\r\n\r\n"
                ).encode()
            )
            while not stop.is_set():
                connection.sendall(b"t" * 100)
                time.sleep(0.05)

    sender = threading.Thread(target=trickle)
    sender.start()
    try:
        time.sleep(0.3)
        started = time.monotonic()
        response = http.head(second.files_url + upload_id, headers=TUS)
        waited = time.monotonic() - started
    finally:
        stop.set()
        sender.join(10)

    assert response.status_code == 423
    assert 4 < waited < 8, f"waited {waited:.1f} s; LOCK_WAIT is 5 s"


def test_finals_declared_at_once_on_two_servers_are_all_linked_to_their_part_and_all_assembled(
    two_servers: tuple[Server, Server], http: httpx.Client
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    first, second = two_servers
    part = http.post(first.files_url, headers={**TUS, "Upload-Length": "5", "Upload-Concat": "partial"})
    part_url = part.headers["Location"]

    def declare_final(index: int) -> httpx.Response:
        server = (first, second)[index % 2]
        with httpx.Client(timeout=30) as client:
            return client.post(server.files_url, headers={**TUS, "Upload-Concat": f"final;{part_url}"})

    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(declare_final, range(16)))

    assert [response.status_code for response in responses] == [201] * 16, [r.text for r in responses]
    finals = {response.headers["Location"].rsplit("/", 1)[1] for response in responses}
    uploads = first.data_dir / "uploads"
    part_id = part_url.rsplit("/", 1)[1]
    assert set(json.loads((uploads / f"{part_id}.info").read_text())["awaiting_finals"]) == finals
    response = http.patch(part_url, headers={**TUS, **OCTETS, "Upload-Offset": "0"}, content=b"abcde")
    assert response.status_code == 204
    assert {final: (uploads / final).read_bytes() for final in finals} == dict.fromkeys(finals, b"abcde")
