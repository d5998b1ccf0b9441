"""Webhooks reach a receiver that fails, goes down and is killed mid-delivery from: every event,
signed, in order per asset, each id stable across its retries, nothing lost."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from standardwebhooks import Webhook

from tests.access import CHECKED, bearer, make_token
from tests.servers import (
    TESTDATA_MEDIA,
    TUS,
    RunningProcess,
    Server,
    process_env,
    start_process,
    start_server,
    upload_bytes,
    wait_for_asset,
)
from tests.webhook_receiver import FAST_RETRIES, SECRET, Receiver

EXPECTED_ORDER = ["upload.created", "upload.finished", "asset.ready", "asset.deleted"]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    running = Receiver()
    running.start()
    yield running
    running.stop()


def _wait(condition: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"not within {timeout}s: {what}")


def _deliveries(http: httpx.Client, server: Server, token: str, **params: str) -> list[dict[str, Any]]:
    response = http.get(f"{server.base_url}/api/webhooks/deliveries", params=params, headers=bearer(token))
    assert response.status_code == 200, response.text
    return response.json()["items"]


def test_every_event_arrives_signed_in_order_through_failures_downtime_and_a_killed_worker(
    tmp_path: Path, http: httpx.Client, receiver: Receiver, broker_settings: dict[str, str]
) -> None:
    data_dir = tmp_path / "data"
    settings = {**broker_settings, **CHECKED, **FAST_RETRIES, "WEBHOOK_URLS": receiver.url}
    receiver.stall_type, receiver.stall_seconds = "asset.deleted", 4.0
    started = time.monotonic()
    server = start_server(data_dir, settings)
    workers: list[RunningProcess] = []
    try:
        workers.append(start_process(["worker"], process_env(data_dir, settings), data_dir / "worker-1.log"))
        alice, root = make_token(data_dir, "alice"), make_token(data_dir, "root", admin=True)
        http.headers.update(bearer(alice))

        # The receiver refuses the first two deliveries (the first asset's upload.created).
        first = upload_bytes(http, server, (TESTDATA_MEDIA / "hopper.jpg").read_bytes(), "first.jpg")
        wait_for_asset(http, server, first)
        _wait(lambda: len(receiver.accepted_ids()) >= 3, 20, "the first asset's three events")

        # Down for a while: the second asset's events are refused, retried, and arrive once it is back.
        receiver.stop()
        second = upload_bytes(http, server, (TESTDATA_MEDIA / "hopper.png").read_bytes(), "second.png")
        wait_for_asset(http, server, second)
        time.sleep(3)
        receiver.start()
        _wait(lambda: len(receiver.accepted_ids()) >= 6, 20, "the second asset's three events")

        # kill -9 the worker while it waits for the receiver's answer to asset.deleted.
        assert http.delete(f"{server.files_url}{first}", headers=TUS).status_code == 204
        assert receiver.stalled.wait(20), "the deletion's webhook never reached the receiver"
        workers[0].process.kill()
        workers[0].process.wait(10)
        workers.append(start_process(["worker"], process_env(data_dir, settings), data_dir / "worker-2.log"))
        assert http.delete(f"{server.files_url}{second}", headers=TUS).status_code == 204

        def delivered() -> list[dict[str, Any]]:
            return _deliveries(http, server, root, status="delivered")

        # The killed attempt's answer went nowhere: only a new attempt, after its lease, can record it.
        _wait(lambda: len(delivered()) == 8, 40, "all eight deliveries recorded delivered")
        elapsed = time.monotonic() - started
        listed = _deliveries(http, server, root)
        forbidden = http.get(f"{server.base_url}/api/webhooks/deliveries", headers=bearer(alice))
    finally:
        for worker in workers:
            worker.stop()
        server.stop()

    verifier = Webhook(SECRET)
    bodies: dict[str, bytes] = {}
    for request in receiver.received:
        payload = verifier.verify(request.body, request.headers)  # raises unless the signature is valid
        message_id = request.headers["webhook-id"]
        assert bodies.setdefault(message_id, request.body) == request.body, "a retry changed the body"
        assert payload["data"]["id"] in (first, second)
    assert len(bodies) == 8, "one webhook id per event, the same on every retry"

    for asset in (first, second):
        arrivals = [json.loads(r.body) for r in receiver.received if json.loads(r.body)["data"]["id"] == asset]
        in_order = list(dict.fromkeys(payload["type"] for payload in arrivals))
        assert in_order == EXPECTED_ORDER, f"{asset}: {in_order}"
        accepted = [json.loads(r.body)["type"] for r in receiver.received if r.answered == 200]
        assert set(EXPECTED_ORDER) <= set(accepted)

    assert forbidden.status_code == 403
    assert len(listed) == 8 and {item["status"] for item in listed} == {"delivered"}
    by_type = {(item["asset_id"], item["type"]): item for item in listed}
    refused_twice = by_type[(first, "upload.created")]
    assert [attempt["status_code"] for attempt in refused_twice["attempt_log"]] == [500, 500, 200]
    assert refused_twice["webhook_id"] == receiver.received[0].headers["webhook-id"]
    killed = by_type[(first, "asset.deleted")]
    # The killed attempt was claimed but never recorded; the next worker's attempt delivered it.
    assert killed["attempts"] == len(killed["attempt_log"]) + 1 and killed["attempt_log"][-1]["status_code"] == 200
    assert any(attempt["error"] for attempt in by_type[(second, "upload.created")]["attempt_log"])

    attempts = sum(len(item["attempt_log"]) for item in listed)
    print(
        f"\nwebhooks: {len(listed)} deliveries (8 events x 1 endpoint), {len(receiver.received)} requests received, "
        f"{attempts} attempts recorded ({sum(item['attempts'] for item in listed)} claimed), "
        f"{elapsed:.1f} s from server start to the last event"
    )


def test_a_delivery_gives_up_after_max_age_and_an_admin_redelivers_it(
    tmp_path: Path, http: httpx.Client, receiver: Receiver
) -> None:
    receiver.failures = 10_000  # refuses everything, until the test lets it accept
    data_dir = tmp_path / "data"
    settings = {**CHECKED, **FAST_RETRIES, "WEBHOOK_URLS": receiver.url, "WEBHOOK_MAX_AGE": "2"}
    server = start_server(data_dir, settings)
    try:
        alice, root = make_token(data_dir, "alice"), make_token(data_dir, "root", admin=True)
        response = http.post(server.files_url, headers={**TUS, "Upload-Length": "10", **bearer(alice)})
        assert response.status_code == 201
        upload_id = response.headers["Location"].rsplit("/", 1)[1]

        def failed() -> list[dict[str, Any]]:
            return _deliveries(http, server, root, status="failed", asset=upload_id)

        _wait(lambda: len(failed()) == 1, 20, "the delivery given up")
        [gave_up] = failed()
        assert gave_up["type"] == "upload.created" and gave_up["last_status_code"] == 500
        assert len(gave_up["attempt_log"]) >= 3 and gave_up["next_attempt_at"] is None
        assert all(attempt["status_code"] == 500 for attempt in gave_up["attempt_log"])

        receiver.failures = 0
        redeliver = f"{server.base_url}/api/webhooks/deliveries/{gave_up['id']}/redeliver"
        assert http.post(redeliver, headers=bearer(alice)).status_code == 403
        again = http.post(redeliver, headers=bearer(root))
        assert again.status_code == 202, again.text
        unknown = f"{server.base_url}/api/webhooks/deliveries/999999/redeliver"
        assert http.post(unknown, headers=bearer(root)).status_code == 404
        _wait(lambda: bool(_deliveries(http, server, root, status="delivered")), 20, "the redelivery")
        [delivered] = _deliveries(http, server, root, asset=upload_id)
    finally:
        server.stop()

    assert delivered["attempt_log"][-1]["status_code"] == 200
    assert {r.headers["webhook-id"] for r in receiver.received} == {gave_up["webhook_id"]}
    Webhook(SECRET).verify(receiver.received[-1].body, receiver.received[-1].headers)


def test_webhook_urls_without_a_secret_refuse_to_start(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="WEBHOOK_SECRET must be a whsec_ secret"):
        start_server(tmp_path / "data", {"WEBHOOK_URLS": "http://127.0.0.1:9/hooks", "WEBHOOK_SECRET": "hunter2"})
