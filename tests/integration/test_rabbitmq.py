"""Scaled out on RabbitMQ (``BROKER_URL=amqp://...``): nothing of ours holds a message long enough to
meet RabbitMQ's ``consumer_timeout``, and a refused result is retried through its delay queue. The
enqueue-only server, a killed worker and webhook deliveries run on both brokers in their own modules
(``broker_settings``)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx

from tests.access import CHECKED, bearer, make_token
from tests.database_choice import sqlite_write_locked
from tests.integration.conftest import queue_depths_of
from tests.servers import TESTDATA_MEDIA, process_env, start_process, start_server, upload_bytes, wait_for_asset
from tests.webhook_receiver import FAST_RETRIES, Receiver


def _worker_log_after_exit(data_dir: Path, settings: dict[str, str]) -> tuple[int, str]:
    worker = start_process(["worker"], process_env(data_dir, settings), data_dir / "refused.log")
    return worker.process.wait(30), worker.log()


def test_a_worker_takes_a_message_from_rabbitmq_only_when_a_thread_is_free_for_it(
    tmp_path: Path, rabbitmq_settings: dict[str, str], http: httpx.Client
) -> None:
    # Prefetched messages wait unacknowledged behind the running jobs, and RabbitMQ takes back a
    # message held past consumer_timeout: so none is taken before a thread can start on it.
    data_dir = tmp_path / "data"
    settings = {**rabbitmq_settings, "MEDIA_WORKER_CONCURRENCY": "1"}
    server = start_server(data_dir, settings)
    worker = start_process(
        ["worker"], process_env(data_dir, {**settings, "MEDIA_PROCESSING_DELAY": "3"}), data_dir / "worker.log"
    )
    try:
        photo = (TESTDATA_MEDIA / "hopper.jpg").read_bytes()
        ids = [upload_bytes(http, server, photo, f"photo-{n}.jpg") for n in range(3)]
        assert wait_for_asset(http, server, ids[0], ("processing",), timeout=20)["status"] == "processing"
        waiting_while_one_runs, _ = queue_depths_of(settings, "media")
        statuses = [wait_for_asset(http, server, upload_id, timeout=40)["status"] for upload_id in ids]
    finally:
        worker.stop()
        server.stop()

    assert waiting_while_one_runs == 2, "the two jobs no thread is free for stay in RabbitMQ"
    assert statuses == ["ready", "ready", "ready"]


def test_a_result_the_database_refuses_is_retried_through_rabbitmqs_delay_queue_and_recorded_once(
    tmp_path: Path, rabbitmq_settings: dict[str, str], http: httpx.Client
) -> None:
    data_dir = tmp_path / "data"
    # SQLite, so the test can hold its write lock: the worker's result and lease cannot be written.
    settings = {**rabbitmq_settings, "DATABASE": "sqlite", "SQLITE_BUSY_TIMEOUT": "0.3", "MEDIA_LEASE": "1.5"}
    settings["RECOVERY_INTERVAL"] = "0.3"
    server = start_server(data_dir, settings)
    worker_settings = {**settings, "MEDIA_PROCESSING_DELAY": "1", "LOG_LEVEL": "info"}
    worker = start_process(["worker"], process_env(data_dir, worker_settings), data_dir / "worker.log")
    try:
        upload_id = upload_bytes(http, server, (TESTDATA_MEDIA / "hopper.jpg").read_bytes(), "hopper.jpg")
        assert wait_for_asset(http, server, upload_id, ("processing",), timeout=20)["status"] == "processing"
        with sqlite_write_locked(data_dir):
            time.sleep(2.5)  # the job ends meanwhile
        asset = wait_for_asset(http, server, upload_id, timeout=60)
        time.sleep(2)  # a late retry must find nothing left to do
        asset = http.get(f"{server.base_url}/api/assets/{upload_id}").json()
    finally:
        worker.stop()
        server.stop()

    assert asset["status"] == "ready", asset
    assert [event["event"] for event in asset["events"]].count("ready") == 1
    assert asset["attempts"] >= 2
    assert "Retrying message" in worker.log(), "the failed attempt went back through the broker's delay queue"


def test_a_worker_refuses_a_job_time_limit_that_could_outlast_rabbitmqs_consumer_timeout(
    tmp_path: Path, rabbitmq_settings: dict[str, str]
) -> None:
    too_long = {**rabbitmq_settings, "MEDIA_JOB_TIME_LIMIT": "1800"}  # plus the 60 s backstop > 30 min
    code, log = _worker_log_after_exit(tmp_path, too_long)
    assert code == 2
    assert "RABBITMQ_CONSUMER_TIMEOUT (1800 s)" in log and "MEDIA_JOB_TIME_LIMIT" in log

    # Told that the RabbitMQ server's timeout is longer, the same limit is fine.
    allowed = start_process(
        ["worker"], process_env(tmp_path, {**too_long, "RABBITMQ_CONSUMER_TIMEOUT": "7200"}), tmp_path / "ok.log"
    )
    try:
        time.sleep(3)
        assert allowed.process.poll() is None, allowed.log()
    finally:
        assert allowed.stop() == 0, allowed.log()


def test_a_webhook_retry_due_later_than_rabbitmq_may_hold_a_message_is_left_to_the_recovery_sweep(
    tmp_path: Path, rabbitmq_settings: dict[str, str], http: httpx.Client
) -> None:
    receiver = Receiver(failures=1)
    receiver.start()
    data_dir = tmp_path / "data"
    # The first retry is due in 700 s: longer than a delayed message may wait on RabbitMQ (600 s).
    settings = {**rabbitmq_settings, **CHECKED, **FAST_RETRIES, "WEBHOOK_URLS": receiver.url}
    settings.update(WEBHOOK_MIN_BACKOFF="700", WEBHOOK_MAX_BACKOFF="700")
    server = start_server(data_dir, settings)
    worker = start_process(["worker"], process_env(data_dir, {**settings, "LOG_LEVEL": "info"}), data_dir / "w.log")
    try:
        http.headers.update(bearer(make_token(data_dir, "alice")))
        upload_bytes(http, server, (TESTDATA_MEDIA / "hopper.jpg").read_bytes())
        root = bearer(make_token(data_dir, "root", admin=True))
        deadline = time.monotonic() + 20
        refused: list[dict] = []
        while time.monotonic() < deadline and not refused:
            listed = http.get(f"{server.base_url}/api/webhooks/deliveries", headers=root).json()["items"]
            refused = [delivery for delivery in listed if delivery["last_status_code"] == 500]
            time.sleep(0.2)
        time.sleep(1)  # after the refusal, the worker would have sent its delayed message by now
    finally:
        # A stopped worker gives back what it holds: a delayed message would be waiting in the queue.
        assert worker.stop() == 0, worker.log()
        server.stop()
        receiver.stop()
    _, delayed = queue_depths_of(settings, "webhooks")

    assert refused and refused[0]["status"] == "pending", "the refused delivery waits for its time"
    assert delayed == 0, "no delayed message was left with RabbitMQ for the retry"
    assert "is due in 700 s: the recovery sweep sends it" in worker.log()
