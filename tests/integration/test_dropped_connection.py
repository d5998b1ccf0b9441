"""A client that drops its connection in the middle of a PATCH body keeps what reached the server."""

from __future__ import annotations

import hashlib
import os
import socket
import time

import httpx

from tests.servers import TUS, Server, create_upload

OCTETS = {"Content-Type": "application/offset+octet-stream"}
MIB = 1024 * 1024


def _send_partial_patch(server: Server, path: str, declared: int, body: bytes) -> None:
    """Declare ``declared`` bytes, send only ``body``, then close the connection."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as connection:
        head = (
            f"PATCH {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\nTus-Resumable: 1.0.0\r\n"
            f"Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\n"
            f"Content-Length: {declared}\r\n\r\n"
        )
        connection.sendall(head.encode() + body)
        # Give the server a moment to read what was sent before the connection goes away.
        time.sleep(0.3)


def _offset_when_settled(http: httpx.Client, location: str, expected: int, timeout: float = 10) -> int:
    deadline = time.monotonic() + timeout
    offset = -1
    while time.monotonic() < deadline:
        offset = int(http.head(location, headers=TUS).headers["Upload-Offset"])
        if offset == expected:
            break
        time.sleep(0.05)
    return offset


def test_dropped_patch_keeps_received_bytes_and_resume_completes(server: Server, http: httpx.Client) -> None:
    data = os.urandom(3 * MIB)
    sent = 3 * MIB // 2 + 12345  # not a multiple of any buffer size
    location = create_upload(http, server, len(data))
    upload_id = location.rsplit("/", 1)[1]

    _send_partial_patch(server, f"/files/{upload_id}", len(data), data[:sent])

    assert _offset_when_settled(http, location, sent) == sent
    stored = server.data_dir / "uploads" / upload_id
    assert stored.read_bytes() == data[:sent]
    asset = http.get(f"{server.base_url}/api/assets/{upload_id}").json()
    assert (asset["status"], asset["offset"]) == ("uploading", sent)

    response = http.patch(location, headers={**TUS, **OCTETS, "Upload-Offset": str(sent)}, content=data[sent:])

    assert (response.status_code, response.headers["Upload-Offset"]) == (204, str(len(data)))
    assert hashlib.sha256(stored.read_bytes()).digest() == hashlib.sha256(data).digest()
