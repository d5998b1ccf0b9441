"""A server that loses an upload's Redis lock stops writing to it before anyone else could take it.

The faults are real: the lock key is deleted or taken over in the real Redis, or the Redis connection
of one server goes silent (a relay in this process that stops passing bytes, as in a network split).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import redis

from tests.conftest import REDIS_TEST_URL
from tests.servers import TUS, Server, create_upload, start_server

pytestmark = pytest.mark.redis

OCTETS = {"Content-Type": "application/offset+octet-stream"}
PIECE = 100
# The holder must be stopped within a renewal period (3.3 s) plus Redis's time to answer (2 s) of its
# last renewal, which leaves more than 4 s of the key's 10 s: this bound checks both with room for a busy machine.
STOPPED_WITHIN_SECONDS = 8.0


class TrickledPatch:
    """A live client: a PATCH whose body arrives 100 bytes every 20 ms, never stalling long enough to be
    taken for a dead connection, until the server answers."""

    def __init__(self, server: Server, upload_id: str, data: bytes) -> None:
        self.connection = socket.create_connection(("127.0.0.1", server.port), timeout=30)
        self.connection.sendall(
            (
                f"PATCH /files/{upload_id} HTTP/1.1\r\nHost: 127.0.0.1\r\nTus-Resumable: 1.0.0\r\n"
                f"Content-Type: application/offset+octet-stream\r\nUpload-Offset: 0\r\n"
                f"Content-Length: {len(data)}\r\n\r\n"
            ).encode()
        )
        self.data = data
        self.answered = threading.Event()
        self.sender = threading.Thread(target=self._send)
        self.sender.start()

    def _send(self) -> None:
        for start in range(0, len(self.data), PIECE):
            if self.answered.is_set():
                return
            try:
                self.connection.sendall(self.data[start : start + PIECE])
            except OSError:
                return  # the server answered and closed the connection
            time.sleep(0.02)

    def response(self, timeout: float) -> str:
        """The status line and headers the server answered, or '' if it did not within ``timeout``."""
        self.connection.settimeout(timeout)
        received = b""
        try:
            while b"\r\n\r\n" not in received:
                piece = self.connection.recv(4096)
                if not piece:
                    break
                received += piece
        except TimeoutError:
            return ""
        finally:
            self.answered.set()
        return received.decode(errors="replace")

    def close(self) -> None:
        self.answered.set()
        self.sender.join(10)
        self.connection.close()


class SilentableRelay:
    """A TCP relay to Redis that can fall silent: connections stay open but no byte passes either way."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(0.2)
        self.port = self.listener.getsockname()[1]
        self.passing = threading.Event()
        self.passing.set()
        self.closed = threading.Event()
        self.sockets: list[socket.socket] = []
        self.threads = [threading.Thread(target=self._accept)]
        self.threads[0].start()

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            self.sockets += [client, upstream]
            for source, target in ((client, upstream), (upstream, client)):
                pump = threading.Thread(target=self._pump, args=(source, target))
                self.threads.append(pump)
                pump.start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        source.settimeout(0.2)
        while not self.closed.is_set():
            try:
                data = source.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            while not self.passing.wait(0.2):  # held back while silent, as a partitioned network would
                if self.closed.is_set():
                    return
            try:
                target.sendall(data)
            except OSError:
                return

    def fall_silent(self) -> None:
        self.passing.clear()

    def close(self) -> None:
        self.closed.set()
        self.passing.set()
        self.listener.close()
        for thread in self.threads:
            thread.join(5)
        for connection in self.sockets:
            connection.close()


@pytest.fixture
def redis_client(redis_settings: dict[str, str]) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_TEST_URL)
    yield client
    client.close()


def _lock_key(redis_settings: dict[str, str], upload_id: str) -> str:
    return f"{redis_settings['QUEUE_NAMESPACE']}:upload-lock:{upload_id}"


def _size(server: Server, upload_id: str) -> int:
    return (server.data_dir / "uploads" / upload_id).stat().st_size


def _wait_for_bytes(server: Server, upload_id: str, at_least: int) -> None:
    deadline = time.monotonic() + 10
    while _size(server, upload_id) < at_least and time.monotonic() < deadline:
        time.sleep(0.02)
    assert _size(server, upload_id) >= at_least


def _kept_offset(answer: str) -> int:
    assert answer.startswith("HTTP/1.1 503"), answer or "the holder never stopped"
    headers = dict(line.split(": ", 1) for line in answer.split("\r\n")[1:] if ": " in line)
    return int(headers["upload-offset"])


def _resume_elsewhere(http: httpx.Client, server: Server, upload_id: str, data: bytes, kept: int) -> None:
    """Another server finishes the upload from where the stopped holder left it."""
    head = http.head(server.files_url + upload_id, headers=TUS)
    assert (head.status_code, head.headers["Upload-Offset"]) == (200, str(kept))
    response = http.patch(
        server.files_url + upload_id, headers={**TUS, **OCTETS, "Upload-Offset": str(kept)}, content=data[kept:]
    )
    assert (response.status_code, response.headers["Upload-Offset"]) == (204, str(len(data)))


@pytest.mark.parametrize("fault", ["deleted", "taken by another holder"])
def test_a_holder_whose_lock_key_is_gone_stops_writing_and_another_server_resumes_cleanly(
    tmp_path: Path, redis_settings: dict[str, str], redis_client: redis.Redis, http: httpx.Client, fault: str
) -> None:
    data_dir = tmp_path / "data"
    first = start_server(data_dir, redis_settings)
    second = start_server(data_dir, redis_settings)
    data = os.urandom(200_000)
    upload_id = create_upload(http, first, len(data)).rsplit("/", 1)[1]
    patch = TrickledPatch(first, upload_id, data)
    try:
        _wait_for_bytes(first, upload_id, 5 * PIECE)
        key = _lock_key(redis_settings, upload_id)
        assert redis_client.exists(key)
        if fault == "deleted":
            redis_client.delete(key)
        else:
            redis_client.set(key, "someone-else", px=1000)

        kept = _kept_offset(patch.response(STOPPED_WITHIN_SECONDS))

        time.sleep(0.5)
        assert _size(first, upload_id) == kept, "the holder went on writing after it answered"
        _resume_elsewhere(http, second, upload_id, data, kept)
        assert (data_dir / "uploads" / upload_id).read_bytes() == data
    finally:
        patch.close()
        second.stop()
        first.stop()


def test_a_holder_that_cannot_reach_redis_stops_writing_while_its_key_still_guards_the_upload(
    tmp_path: Path, redis_settings: dict[str, str], redis_client: redis.Redis, http: httpx.Client
) -> None:
    data_dir = tmp_path / "data"
    relay = SilentableRelay(urlsplit(REDIS_TEST_URL).port or 6379)
    # Only the first server's locks go through the relay; its broker talks to Redis directly.
    cut_off = {**redis_settings, "REDIS_URL": f"redis://127.0.0.1:{relay.port}/0", "BROKER_URL": REDIS_TEST_URL}
    first = start_server(data_dir, cut_off)
    # The key of a server that went silent stays until it expires: the second server waits that out.
    second = start_server(data_dir, {**redis_settings, "LOCK_WAIT": "15"})
    data = os.urandom(200_000)
    upload_id = create_upload(http, first, len(data)).rsplit("/", 1)[1]
    patch = TrickledPatch(first, upload_id, data)
    try:
        _wait_for_bytes(first, upload_id, 5 * PIECE)
        relay.fall_silent()

        answer = patch.response(STOPPED_WITHIN_SECONDS)
        still_guarded_ms = redis_client.pttl(_lock_key(redis_settings, upload_id))
        kept = _kept_offset(answer)

        assert still_guarded_ms > 1000, f"the holder stopped only {still_guarded_ms} ms before its key could expire"
        time.sleep(0.5)
        assert _size(first, upload_id) == kept, "the holder went on writing after it answered"
        _resume_elsewhere(http, second, upload_id, data, kept)
        assert (data_dir / "uploads" / upload_id).read_bytes() == data
    finally:
        patch.close()
        second.stop()
        first.stop()
        relay.close()
