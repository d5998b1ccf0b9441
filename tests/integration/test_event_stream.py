"""``GET /api/events``: a subscriber sees every status change in order, also of work done by another
process over Redis, resumes with ``Last-Event-ID`` without a gap, and sees only what it may see."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.access import CHECKED, bearer, make_token
from tests.servers import (
    TESTDATA_MEDIA,
    TUS,
    create_upload,
    process_env,
    start_process,
    start_server,
    wait_for_asset,
)

HEARTBEAT = {"EVENT_STREAM_HEARTBEAT": "1"}


@dataclass
class Message:
    id: int
    event: str
    data: dict[str, Any]


class Subscription:
    """An SSE client: reads ``id:``/``event:``/``data:`` lines, and ``:`` comments (heartbeats)."""

    def __init__(self, client: httpx.Client, url: str, headers: dict[str, str] | None = None) -> None:
        self.context = client.stream("GET", url, headers=headers or {}, timeout=10)
        self.response = self.context.__enter__()
        self.lines = self.response.iter_lines()
        self.comments = 0

    def next(self, timeout: float) -> Message | None:
        """The next message, or None when ``timeout`` passes first (heartbeats keep lines coming)."""
        deadline = time.monotonic() + timeout
        fields: dict[str, str] = {}
        while time.monotonic() < deadline:
            line = next(self.lines)
            if line.startswith(":"):
                self.comments += 1
            elif line == "" and fields:
                return Message(int(fields["id"]), fields["event"], json.loads(fields["data"]))
            elif line:
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
        return None

    def until(self, event: str, timeout: float = 30) -> list[Message]:
        messages: list[Message] = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = self.next(deadline - time.monotonic())
            if message is not None:
                messages.append(message)
                if message.event == event:
                    return messages
        raise AssertionError(f"no {event!r} within {timeout}s; got {[m.event for m in messages]}")

    def close(self) -> None:
        self.context.__exit__(None, None, None)


def _patch_all(http: httpx.Client, location: str, data: bytes, **headers: str) -> None:
    response = http.patch(
        location,
        content=data,
        headers={**TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream", **headers},
    )
    assert response.status_code == 204, response.text


@pytest.mark.redis
def test_a_subscriber_sees_queued_processing_ready_from_a_separate_worker_and_resumes_without_a_gap(
    tmp_path: Path, http: httpx.Client, redis_settings: dict[str, str]
) -> None:
    data_dir = tmp_path / "data"
    settings = {**redis_settings, **HEARTBEAT}
    server = start_server(data_dir, settings)
    worker = start_process(["worker"], process_env(data_dir, settings), data_dir / "worker.log")
    data = (TESTDATA_MEDIA / "hopper.jpg").read_bytes()
    try:
        location = create_upload(http, server, len(data))
        upload_id = location.rsplit("/", 1)[1]
        library = Subscription(http, f"{server.base_url}/api/events")
        one = Subscription(http, f"{server.base_url}/api/events?asset={upload_id}")
        assert one.response.headers["content-type"].startswith("text/event-stream")

        _patch_all(http, location, data)
        seen = one.until("ready")
        whole = library.until("ready")
        assert one.next(timeout=2.5) is None, "nothing after ready"
        heartbeats = one.comments
        one.close()
        library.close()

        # Reconnect after the first event: the rest, exactly once, even though it all happened meanwhile.
        resumed = Subscription(http, f"{server.base_url}/api/events", {"Last-Event-ID": str(seen[0].id)})
        rest = resumed.until("ready")
        resumed.close()
        replay = Subscription(http, f"{server.base_url}/api/events?asset={upload_id}&last_event_id=0")
        history = replay.until("ready")
        replay.close()
    finally:
        worker.stop()
        server.stop()

    assert [m.event for m in seen] == ["received", "queued", "started", "ready"]
    assert list(dict.fromkeys(m.data["status"] for m in seen)) == ["queued", "processing", "ready"]
    assert [m.id for m in seen] == sorted(m.id for m in seen)
    assert all(m.data["asset_id"] == upload_id for m in seen)
    assert seen[-1].data["type"] == "asset.ready" and seen[-1].data["asset"]["detected_type"] == "image/jpeg"
    assert [m.id for m in whole] == [m.id for m in seen], "the library stream has the same events"
    assert [m.id for m in rest] == [m.id for m in seen[1:]], "Last-Event-ID resumes exactly after it"
    assert [m.event for m in history] == ["created", "received", "queued", "started", "ready"]
    assert heartbeats >= 1, "a ping at least every EVENT_STREAM_HEARTBEAT seconds"


def test_each_user_streams_only_their_own_assets_and_a_signed_link_needs_no_header(
    tmp_path: Path, http: httpx.Client
) -> None:
    data_dir = tmp_path / "data"
    server = start_server(data_dir, {**CHECKED, **HEARTBEAT})
    try:
        alice, bob = make_token(data_dir, "alice"), make_token(data_dir, "bob")
        bobs_stream = Subscription(http, f"{server.base_url}/api/events", bearer(bob))
        link = http.get(f"{server.base_url}/api/events/link", headers=bearer(alice))
        assert link.status_code == 200, link.text
        headerless = httpx.Client()
        alices_stream = Subscription(headerless, link.json()["url"])  # no Authorization header

        alices = create_upload(http, server, 4, **bearer(alice))
        alices_id = alices.rsplit("/", 1)[1]
        bobs = create_upload(http, server, 4, **bearer(bob))
        _patch_all(http, bobs, b"bob!", **bearer(bob))
        _patch_all(http, alices, b"ali!", **bearer(alice))

        alice_saw = alices_stream.until("ready", 20)
        bob_saw = bobs_stream.until("ready", 20)
        alices_stream.close()
        headerless.close()
        bobs_stream.close()

        refused = http.get(f"{server.base_url}/api/events", params={"asset": alices_id}, headers=bearer(bob))
        anonymous = http.get(f"{server.base_url}/api/events")
        malformed = http.get(f"{server.base_url}/api/events", headers={**bearer(bob), "Last-Event-ID": "x"})
    finally:
        server.stop()

    assert {m.data["asset"]["owner"] for m in alice_saw} == {"alice"}
    assert {m.data["asset"]["owner"] for m in bob_saw} == {"bob"}
    assert alice_saw[0].event == "created" and alice_saw[0].data["asset_id"] == alices_id
    assert refused.status_code == 404, "another user's asset is not found, as elsewhere"
    assert anonymous.status_code == 401
    assert malformed.status_code == 400


def test_a_stream_opened_from_the_links_position_has_everything_that_happened_since_the_link(
    tmp_path: Path, http: httpx.Client
) -> None:
    data_dir = tmp_path / "data"
    server = start_server(data_dir, {**CHECKED, **HEARTBEAT})
    try:
        alice = make_token(data_dir, "alice")
        link = http.get(f"{server.base_url}/api/events/link", headers=bearer(alice)).json()
        # Between the link and the stream: a whole upload, processed (a page loading its list).
        location = create_upload(http, server, 4, **bearer(alice))
        _patch_all(http, location, b"ali!", **bearer(alice))
        upload_id = location.rsplit("/", 1)[1]
        wait_for_asset(http, server, upload_id, headers=bearer(alice))
        headerless = httpx.Client()
        late = Subscription(headerless, f"{link['url']}&last_event_id={link['last_event_id']}")
        saw = late.until("ready", 20)
        late.close()
        headerless.close()
    finally:
        server.stop()

    assert link["last_event_id"].isdigit()
    assert [m.event for m in saw] == ["created", "received", "queued", "started", "ready"]
    assert {m.data["asset_id"] for m in saw} == {upload_id}
