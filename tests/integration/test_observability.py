"""Health checks, metrics, request ids and logs, seen from outside a real server (and a real worker)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import redis
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import REDIS_TEST_URL
from tests.servers import (
    REPO_ROOT,
    TESTDATA_MEDIA,
    TUS,
    Server,
    StalledPatch,
    create_upload,
    free_port,
    process_env,
    start_process,
    start_server,
    upload_bytes,
    wait_for_asset,
)

HEX_ID = re.compile(r"[0-9a-f]{32}")
JPEG = TESTDATA_MEDIA / "portrait_orientation_6.jpg"


def admin_token(data_dir: Path) -> str:
    """A real admin token, made the way an operator makes one (the last line printed)."""
    made = subprocess.run(
        [sys.executable, "-m", "app.cli", "token", "create", "--user", "scraper", "--admin"],
        cwd=REPO_ROOT,
        env=process_env(data_dir),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert made.returncode == 0, made.stdout + made.stderr
    return made.stdout.strip().splitlines()[-1]


def scrape(http: httpx.Client, url: str, token: str | None = None) -> str:
    response = http.get(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return response.text


def sample(text: str, name: str, **labels: str) -> float:
    """The sum of the samples called ``name`` whose labels include ``labels`` (0 when there is none)."""
    return sum(
        found.value
        for family in text_string_to_metric_families(text)
        for found in family.samples
        if found.name == name and labels.items() <= found.labels.items()
    )


def families(text: str) -> set[str]:
    return {family.name for family in text_string_to_metric_families(text)}


def eventually(condition: Callable[[], bool], timeout: float = 15) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.1)
    return condition()


def test_health_checks_answer_without_credentials(server_with: Callable[..., Server], http: httpx.Client) -> None:
    server = server_with(ALLOW_ANONYMOUS="false")

    alive = http.get(f"{server.base_url}/healthz")
    ready = http.get(f"{server.base_url}/readyz")

    assert (alive.status_code, alive.json()) == (200, {"status": "alive"})
    assert (ready.status_code, ready.json()) == (200, {"database": "ok", "broker": "in-process", "disk": "ok"})
    # Without credentials everything else is refused, the metrics too.
    assert http.get(f"{server.base_url}/metrics").status_code == 401


def test_readyz_names_each_failing_part_with_a_reason(server_with: Callable[..., Server], http: httpx.Client) -> None:
    nothing_listens = f"redis://127.0.0.1:{free_port()}/0"
    server = server_with(READY_MIN_FREE_BYTES=str(10**18), BROKER_URL=nothing_listens)

    started = time.monotonic()
    ready = http.get(f"{server.base_url}/readyz")

    assert ready.status_code == 503
    parts = ready.json()
    assert parts["database"] == "ok"
    assert parts["broker"].startswith("failed: ")
    assert parts["disk"].startswith("failed: ") and "READY_MIN_FREE_BYTES" in parts["disk"]
    assert all("\n" not in reason for reason in parts.values())
    assert time.monotonic() - started < 5  # every check is bounded
    assert http.get(f"{server.base_url}/healthz").status_code == 200  # alive all the same


def test_metrics_are_for_admins_only(server: Server, http: httpx.Client) -> None:
    # Test servers serve anonymous requests as an ordinary user.
    refused = http.get(f"{server.base_url}/metrics")
    assert refused.status_code == 403
    assert "tusmedia_" not in refused.text

    text = scrape(http, f"{server.base_url}/metrics", admin_token(server.data_dir))

    expected = {
        "tusmedia_http_requests",
        "tusmedia_http_request_duration_seconds",
        "tusmedia_uploads_created",
        "tusmedia_uploads_active",
        "tusmedia_lock_handovers",
        "tusmedia_processing_duration_seconds",
        "tusmedia_jobs",
        "tusmedia_queue_depth",
        "tusmedia_webhook_deliveries",
        "process_resident_memory_bytes",
    }
    assert expected <= families(text)


def test_metrics_after_uploads_show_the_counters_moved(server: Server, http: httpx.Client) -> None:
    token = admin_token(server.data_dir)
    metrics_url = f"{server.base_url}/metrics"
    before = scrape(http, metrics_url, token)
    assert sample(before, "tusmedia_uploads_created_total") == 0

    data = JPEG.read_bytes()
    ready_id = upload_bytes(http, server, data, filename="portrait.jpg")
    asset = wait_for_asset(http, server, ready_id)
    assert asset["status"] == "ready", asset["error"]
    # A second upload sent with PATCH, left unfinished, then deleted.
    location = create_upload(http, server, 100)
    patched = http.patch(
        location,
        content=b"x" * 40,
        headers={**TUS, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"},
    )
    assert patched.status_code == 204
    assert http.delete(location, headers=TUS).status_code == 204

    # The embedded worker's child reports its jobs to the server a moment after the row says ready.
    deadline = time.monotonic() + 5
    after = scrape(http, metrics_url, token)
    while sample(after, "tusmedia_jobs_total", outcome="ready") != 1 and time.monotonic() < deadline:
        time.sleep(0.05)
        after = scrape(http, metrics_url, token)
    assert sample(after, "tusmedia_uploads_created_total") == 2
    assert sample(after, "tusmedia_uploads_finished_total") == 1
    assert sample(after, "tusmedia_uploads_terminated_total") == 1
    assert sample(after, "tusmedia_uploads_expired_total") == 0
    assert sample(after, "tusmedia_uploads_active") == 0  # nothing is being received now
    created = {"route": "/files/", "method": "POST", "status": "201"}
    assert sample(after, "tusmedia_http_requests_total", **created) == 2
    patch = {"route": "/files/{upload_id}", "method": "PATCH"}
    assert sample(after, "tusmedia_http_requests_total", **patch, status="204") == 1
    assert sample(after, "tusmedia_http_request_duration_seconds_count", **patch) == 1
    assert sample(after, "tusmedia_http_received_bytes_total", route="/files/", method="POST") == len(data)
    assert sample(after, "tusmedia_http_received_bytes_total", **patch) == 40
    # Route templates only: no upload id ever becomes a label value.
    assert ready_id not in after and location.rsplit("/", 1)[1] not in after
    # The embedded worker runs in a child of the server, which reports its job metrics here.
    assert sample(after, "tusmedia_jobs_total", outcome="ready") == 1
    assert sample(after, "tusmedia_processing_duration_seconds_count", type="image/jpeg") == 1
    assert sample(after, "tusmedia_queue_depth", queue="tusmedia.media", state="waiting") == 0


def test_lock_waits_and_hand_overs_are_counted(server: Server, http: httpx.Client) -> None:
    token = admin_token(server.data_dir)
    location = create_upload(http, server, 1000)
    stalled = StalledPatch(server, location.rsplit("/", 1)[1], declared=1000, sent=b"y" * 300)
    try:
        assert eventually(lambda: http.head(location, headers=TUS).headers.get("Upload-Offset") == "300")
    finally:
        stalled.close()

    text = scrape(http, f"{server.base_url}/metrics", token)
    assert sample(text, "tusmedia_lock_handovers_total") >= 1
    assert sample(text, "tusmedia_lock_waits_total", outcome="acquired") >= 1
    assert sample(text, "tusmedia_lock_wait_seconds_count") >= 1


def test_expired_uploads_are_counted_apart_from_deleted_ones(
    server_with: Callable[..., Server], http: httpx.Client
) -> None:
    server = server_with(UPLOAD_EXPIRATION="1", CLEANUP_INTERVAL="0.5")
    token = admin_token(server.data_dir)
    create_upload(http, server, 100)
    scrapes: list[str] = []

    def expired() -> bool:
        scrapes.append(scrape(http, f"{server.base_url}/metrics", token))
        return sample(scrapes[-1], "tusmedia_uploads_expired_total") == 1

    assert eventually(expired)
    assert sample(scrapes[-1], "tusmedia_uploads_terminated_total") == 0


def test_request_ids_are_kept_or_made_returned_and_logged(
    server_with: Callable[..., Server], http: httpx.Client
) -> None:
    server = server_with(LOG_LEVEL="info")

    kept = http.get(f"{server.base_url}/api/assets", headers={"X-Request-ID": "client-id.42_A"})
    replaced = http.get(f"{server.base_url}/api/assets", headers={"X-Request-ID": "no spaces; or " + "x" * 200})
    made = http.post(server.files_url, headers={**TUS, "Upload-Length": "10"})

    assert kept.headers["X-Request-ID"] == "client-id.42_A"
    assert HEX_ID.fullmatch(replaced.headers["X-Request-ID"])
    assert HEX_ID.fullmatch(made.headers["X-Request-ID"])
    assert eventually(lambda: made.headers["X-Request-ID"] in server.log())
    log = server.log()
    assert "[client-id.42_A]: GET /api/assets 200" in log
    assert f"[{made.headers['X-Request-ID']}]: POST /files/ 201" in log
    assert "no spaces" not in log


def test_access_log_holds_no_query_string_and_no_header(server_with: Callable[..., Server], http: httpx.Client) -> None:
    server = server_with(LOG_LEVEL="info")

    http.get(f"{server.base_url}/api/assets", params={"limit": "5", "signature": "SIGNATURE-IN-QUERY"})
    http.get(f"{server.base_url}/api/assets", headers={"Authorization": "Bearer tm_abc_TOKEN-IN-HEADER"})

    assert eventually(lambda: server.log().count("GET /api/assets ") == 2)
    log = server.log()
    assert "SIGNATURE-IN-QUERY" not in log and "limit=" not in log
    assert "TOKEN-IN-HEADER" not in log
    # uvicorn's own access log, which would print the query string, is off.
    assert "HTTP/1.1" not in log


def test_json_log_format_writes_one_object_per_line(tmp_path: Path, http: httpx.Client) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    admin_token(data_dir)  # so the server prints no first-admin-token notice, which is not a log line
    server = start_server(data_dir, {"LOG_FORMAT": "json", "LOG_LEVEL": "info"})
    try:
        made = http.post(server.files_url, headers={**TUS, "Upload-Length": "10", "X-Request-ID": "json-test"})
        assert made.status_code == 201
        assert eventually(lambda: "json-test" in server.log())
    finally:
        server.stop()

    entries = [json.loads(line) for line in server.log().splitlines() if line.strip()]
    assert entries and all({"time", "level", "logger", "message", "request_id"} <= entry.keys() for entry in entries)
    access = [entry for entry in entries if entry["logger"] == "tusmedia.access"]
    assert [(entry["request_id"], entry["method"], entry["path"], entry["status"]) for entry in access][-1] == (
        "json-test",
        "POST",
        "/files/",
        201,
    )
    assert any(entry["logger"].startswith("uvicorn") for entry in entries)  # uvicorn's lines are JSON too


@pytest.mark.redis
def test_a_separate_worker_exposes_its_job_metrics(
    tmp_path: Path, redis_settings: dict[str, str], http: httpx.Client
) -> None:
    data_dir = tmp_path / "data"
    server = start_server(data_dir, redis_settings)
    worker_port = free_port()
    worker = None
    try:
        token = admin_token(data_dir)
        upload_id = upload_bytes(http, server, JPEG.read_bytes(), filename="portrait.jpg")
        queue = f"{redis_settings['QUEUE_NAMESPACE']}.media"
        assert redis.Redis.from_url(REDIS_TEST_URL).llen(f"dramatiq:{queue}") == 1
        # The server asks Redis for the queue's depth when scraped.
        waiting = scrape(http, f"{server.base_url}/metrics", token)
        assert sample(waiting, "tusmedia_queue_depth", queue=queue, state="waiting") == 1

        worker_env = process_env(data_dir, {**redis_settings, "WORKER_METRICS_PORT": str(worker_port)})
        worker = start_process(["worker"], worker_env, data_dir / "worker.log")
        asset = wait_for_asset(http, server, upload_id)
        assert asset["status"] == "ready", asset["error"]

        worker_metrics = scrape(http, f"http://127.0.0.1:{worker_port}/metrics")
        assert sample(worker_metrics, "tusmedia_jobs_total", outcome="ready") == 1
        assert sample(worker_metrics, "tusmedia_processing_duration_seconds_count", type="image/jpeg") == 1
        assert sample(worker_metrics, "tusmedia_queue_depth", queue=queue, state="waiting") == 0
        # The server ran no job: its registry is its own.
        assert sample(scrape(http, f"{server.base_url}/metrics", token), "tusmedia_jobs_total") == 0
    finally:
        if worker is not None:
            assert worker.stop() == 0, worker.log()
        server.stop()
