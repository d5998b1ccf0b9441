"""Storage faults leave the upload as the client last saw it, and no debris: a crash in the middle of a
checksummed body, a creation cut off, a full disk, and what a crash leaves in the upload directory."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import signal
import socket
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from tests.servers import TUS, Server, create_upload, start_server, upload_bytes, wait_for_asset

OCTETS = {"Content-Type": "application/offset+octet-stream"}
MIB = 1024 * 1024


def _send_part_of(server: Server, request_head: str, body: bytes) -> socket.socket:
    connection = socket.create_connection(("127.0.0.1", server.port), timeout=30)
    connection.sendall(request_head.encode() + body)
    return connection


def _response_head(connection: socket.socket) -> tuple[int, dict[str, str]]:
    received = b""
    while b"\r\n\r\n" not in received:
        piece = connection.recv(4096)
        if not piece:
            break
        received += piece
    status_line, *lines = received.split(b"\r\n\r\n", 1)[0].decode().split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines)
    return int(status_line.split()[1]), {name.lower(): value for name, value in headers.items()}


def _wait_until(condition: Callable[[], bool], timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.02)


def test_a_crash_in_the_middle_of_a_checksummed_patch_keeps_no_unverified_byte(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    uploads = data_dir / "uploads"
    server = start_server(data_dir)
    data = os.urandom(3000)
    with httpx.Client(timeout=30) as http:
        location = create_upload(http, server, len(data))
        upload_id = location.rsplit("/", 1)[1]
        http.patch(location, headers={**TUS, **OCTETS, "Upload-Offset": "0"}, content=data[:1000])
    body = data[1000:2000]
    checksum = base64.b64encode(hashlib.sha1(body).digest()).decode()
    head = (
        f"PATCH /files/{upload_id} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nTus-Resumable: 1.0.0\r\n"
        f"Content-Type: application/offset+octet-stream\r\nUpload-Offset: 1000\r\n"
        f"Upload-Checksum: sha1 {checksum}\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    connection = _send_part_of(server, head, body[:600])
    try:
        staged = lambda: [path for path in uploads.iterdir() if ".staging-" in path.name]  # noqa: E731
        _wait_until(lambda: any(path.stat().st_size == 600 for path in staged()))
        assert (uploads / upload_id).read_bytes() == data[:1000], "the body waits beside the upload"
        server.process.send_signal(signal.SIGKILL)
        server.process.wait(10)
    finally:
        connection.close()

    restarted = start_server(data_dir)
    try:
        location = restarted.files_url + upload_id
        with httpx.Client(timeout=30) as http:
            offset = http.head(location, headers=TUS).headers["Upload-Offset"]
            leftovers = [path.name for path in uploads.iterdir() if ".staging-" in path.name]
            resumed = http.patch(location, headers={**TUS, **OCTETS, "Upload-Offset": "1000"}, content=data[1000:])
    finally:
        restarted.stop()
    assert offset == "1000", "HEAD never counts bytes that were not verified"
    assert leftovers == [], "the start-up sweep removes the staged body of the dead request"
    assert (resumed.status_code, (uploads / upload_id).read_bytes()) == (204, data)


def test_a_checksummed_patch_cut_off_keeps_nothing_of_its_body(shared_server: Server, http: httpx.Client) -> None:
    location = create_upload(http, shared_server, 100)
    upload_id = location.rsplit("/", 1)[1]
    body = b"x" * 50
    checksum = base64.b64encode(hashlib.md5(body).digest()).decode()
    head = (
        f"PATCH /files/{upload_id} HTTP/1.1\r\nHost: 127.0.0.1:{shared_server.port}\r\nTus-Resumable: 1.0.0\r\n"
        f"Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\n"
        f"Upload-Checksum: md5 {checksum}\r\nContent-Length: 50\r\n\r\n"
    )
    _send_part_of(shared_server, head, body[:20]).close()

    uploads = shared_server.data_dir / "uploads"
    _wait_until(lambda: not [path for path in uploads.iterdir() if path.name.startswith(f"{upload_id}.staging-")])
    assert http.head(location, headers=TUS).headers["Upload-Offset"] == "0"
    assert (uploads / upload_id).read_bytes() == b""


def test_a_creation_cut_off_by_the_idle_timeout_says_where_the_upload_is(
    server_with: Callable[..., Server], http: httpx.Client
) -> None:
    server = server_with(NETWORK_TIMEOUT="0.5")
    head = (
        f"POST /files/ HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nTus-Resumable: 1.0.0\r\nUpload-Length: 100\r\n"
        "Content-Type: application/offset+octet-stream\r\nContent-Length: 100\r\n\r\n"
    )
    connection = _send_part_of(server, head, b"0123456789")
    try:
        status, headers = _response_head(connection)
    finally:
        connection.close()

    assert (status, headers["upload-offset"]) == (503, "10")
    location = headers["location"]
    assert http.head(location, headers=TUS).headers["Upload-Offset"] == "10"
    resumed = http.patch(location, headers={**TUS, **OCTETS, "Upload-Offset": "10"}, content=b"a" * 90)
    assert (resumed.status_code, resumed.headers["Upload-Offset"]) == (204, "100")


def _fill(disk: Path) -> None:
    """Take every free block of the small file system."""
    with contextlib.suppress(OSError), open(disk / "filler", "wb", buffering=0) as filler:
        while True:
            filler.write(b"\0" * 4096)


def _stored(http: httpx.Client, server: Server, uploads: Path) -> tuple[list[str], list[dict]]:
    return sorted(path.name for path in uploads.iterdir()), http.get(f"{server.base_url}/api/assets").json()["items"]


def test_a_creation_on_a_full_disk_answers_507_and_leaves_no_file(
    tmp_path: Path, small_disk: Path, http: httpx.Client
) -> None:
    server = start_server(tmp_path / "data", {"UPLOAD_DIR": str(small_disk / "uploads")})
    try:
        _fill(small_disk)
        before = _stored(http, server, small_disk / "uploads")

        response = http.post(
            server.files_url, headers={**TUS, "Upload-Length": "10", "Upload-Metadata": "filename YS5qcGc="}
        )

        assert response.status_code == 507, response.text
        assert "disk is full" in response.text
        assert _stored(http, server, small_disk / "uploads") == before, "no data file, no temporary info file"
        (small_disk / "filler").unlink()
        assert http.post(server.files_url, headers={**TUS, "Upload-Length": "10"}).status_code == 201
    finally:
        server.stop()


def test_a_part_finished_on_a_full_disk_answers_its_offset_and_its_final_is_assembled_later(
    tmp_path: Path, small_disk: Path, http: httpx.Client
) -> None:
    server = start_server(tmp_path / "data", {"UPLOAD_DIR": str(small_disk / "uploads")})
    uploads = small_disk / "uploads"
    try:
        part_data = os.urandom(300 * 1024)
        parts = []
        for _ in range(2):
            response = http.post(
                server.files_url, headers={**TUS, "Upload-Length": str(len(part_data)), "Upload-Concat": "partial"}
            )
            parts.append(response.headers["Location"])
        http.patch(parts[0], headers={**TUS, **OCTETS, "Upload-Offset": "0"}, content=part_data)
        final = http.post(server.files_url, headers={**TUS, "Upload-Concat": "final;" + " ".join(parts)})
        assert final.status_code == 201
        # Room for the last part's bytes, not for the final upload's copy of both parts.
        with open(small_disk / "filler", "wb") as filler:
            filler.write(b"\0" * (2 * MIB - 3 * len(part_data) - 200 * 1024))

        last = http.patch(parts[1], headers={**TUS, **OCTETS, "Upload-Offset": "0"}, content=part_data)

        assert (last.status_code, last.headers["Upload-Offset"]) == (204, str(len(part_data)))
        assert [path.name for path in uploads.iterdir() if ".assembling" in path.name] == []
        assert "Upload-Offset" not in http.head(final.headers["Location"], headers=TUS).headers
        (small_disk / "filler").unlink()
        head = http.head(final.headers["Location"], headers=TUS)
        assert head.headers["Upload-Offset"] == str(2 * len(part_data))
        final_id = final.headers["Location"].rsplit("/", 1)[1]
        assert (uploads / final_id).read_bytes() == part_data * 2
    finally:
        server.stop()


def test_what_a_crash_leaves_in_the_upload_directory_is_swept_at_start_up(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    uploads = data_dir / "uploads"
    server = start_server(data_dir)
    with httpx.Client(timeout=30) as http:
        kept = upload_bytes(http, server, b"kept bytes")
        half_deleted = upload_bytes(http, server, b"half deleted")
        for upload_id in (kept, half_deleted):
            wait_for_asset(http, server, upload_id)
    server.stop()
    (uploads / half_deleted).unlink()  # a delete removes the data first; the crash came before the info
    debris = [
        f"{kept}.staging-0123456789abcdef",
        f"{kept}.info.x1y2z3.tmp",
        f"{half_deleted}.assembling-0123456789abcdef",
        "AAAAAAAAAAAAAAAAAAAAAA",  # a data file whose create died before its info was written
    ]
    for name in debris:
        (uploads / name).write_bytes(b"debris")

    restarted = start_server(data_dir)
    try:
        with httpx.Client(timeout=30) as http:
            gone = http.get(f"{restarted.base_url}/api/assets/{half_deleted}").status_code
            still = http.get(f"{restarted.base_url}/api/assets/{kept}").json()["status"]
    finally:
        restarted.stop()

    assert sorted(path.name for path in uploads.iterdir() if not path.name.startswith(".")) == sorted(
        [kept, f"{kept}.info"]
    )
    assert (gone, still) == (404, "ready")
    assert (uploads / kept).read_bytes() == b"kept bytes"
