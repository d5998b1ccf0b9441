"""Scaled out: the server only enqueues (on Redis, and on RabbitMQ where ``broker_settings`` runs both),
and a separate ``tusmedia worker`` process does the work."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import redis
from tusclient import client as tus_client

from tests.conftest import REDIS_TEST_URL
from tests.integration.conftest import queue_depths_of
from tests.servers import TESTDATA_MEDIA, RunningProcess, process_env, start_process, start_server, upload_bytes
from tests.servers import wait_for_asset as wait_for


def _start_worker(data_dir: Path, settings: dict[str, str]) -> RunningProcess:
    return start_process(["worker"], process_env(data_dir, settings), data_dir / "worker.log")


def test_server_only_enqueues_and_a_separate_worker_makes_the_asset_ready(
    tmp_path: Path, broker_settings: dict[str, str], http: httpx.Client
) -> None:
    server = start_server(tmp_path / "data", broker_settings)
    worker = None
    try:
        with (TESTDATA_MEDIA / "portrait_orientation_6.jpg").open("rb") as stream:
            uploader = tus_client.TusClient(server.files_url).uploader(
                file_stream=stream, chunk_size=2000, metadata={"filename": "portrait.jpg"}
            )
            uploader.upload()
        upload_id = uploader.url.rsplit("/", 1)[1]

        # With a broker configured the server runs no worker: the job waits in the broker.
        time.sleep(1.5)
        assert http.get(f"{server.base_url}/api/assets/{upload_id}").json()["status"] == "queued"
        assert queue_depths_of(broker_settings, "media") == (1, 0)

        worker = _start_worker(server.data_dir, broker_settings)
        asset = wait_for(http, server, upload_id)
        depths_after = queue_depths_of(broker_settings, "media")
    finally:
        if worker is not None:
            assert worker.stop() == 0, worker.log()
        server.stop()

    assert asset["status"] == "ready", asset["error"]
    assert (asset["width"], asset["height"]) == (480, 640)
    assert set(asset["derivatives"]) == {"thumb_256.jpg", "thumb_1024.jpg", "web.jpg"}
    assert depths_after == (0, 0)


def test_worker_without_a_broker_refuses_to_start_with_a_reason(tmp_path: Path) -> None:
    worker = _start_worker(tmp_path, {})

    assert worker.process.wait(30) == 2
    assert "no broker is configured" in worker.log()


def test_a_job_whose_message_was_lost_is_sent_again_at_start_up(
    tmp_path: Path, redis_settings: dict[str, str], http: httpx.Client
) -> None:
    data_dir = tmp_path / "data"
    enqueuing_only = start_server(data_dir, redis_settings)
    try:
        upload_id = upload_bytes(http, enqueuing_only, (TESTDATA_MEDIA / "hopper.webp").read_bytes())
    finally:
        enqueuing_only.stop()
    # The broker loses the message: the row alone remembers that work is due.
    queue = f"dramatiq:{redis_settings['QUEUE_NAMESPACE']}.media"
    assert redis.Redis.from_url(REDIS_TEST_URL).delete(queue, f"{queue}.msgs") >= 1

    embedded = start_server(data_dir)
    try:
        asset = wait_for(http, embedded, upload_id)
    finally:
        embedded.stop()

    assert (asset["status"], asset["format"], asset["attempts"]) == ("ready", "WEBP", 1)
