"""The media actor on Dramatiq's in-memory broker with a real worker, a real SQLite file and real files."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import dramatiq
import pytest

from app.db import open_database, queries
from app.db.migrations import migrate
from app.storage.filestore import FileStore
from app.vocabulary import UploadInfo, new_upload_id
from config import Settings
from tests.servers import TESTDATA_MEDIA
from workers.broker import create_broker, start_worker
from workers.media import MediaActors, declare_actors


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return replace(
        Settings(),
        data_dir=tmp_path,
        upload_dir=tmp_path / "uploads",
        derivatives_dir=tmp_path / "derivatives",
        database_url=f"sqlite:///{tmp_path / 'test.db'}",
    )


@pytest.fixture
def running(settings: Settings) -> Iterator[tuple[dramatiq.Broker, MediaActors]]:
    broker = create_broker(settings)
    actors = declare_actors(broker, settings)
    worker = start_worker(broker, concurrency=2)
    yield broker, actors
    worker.stop()
    broker.close()


async def _queued_upload(settings: Settings, source: Path) -> str:
    """What the server leaves behind when an upload completes: bytes on disk and a ``queued`` row."""
    store = FileStore(settings.upload_dir)
    store.prepare()
    upload_id = new_upload_id()
    data = source.read_bytes()
    await store.create(UploadInfo(id=upload_id, length=len(data), owner="alice", metadata={}))
    (settings.upload_dir / upload_id).write_bytes(data)
    database = open_database(settings.database_url)
    await database.connect()
    await migrate(database)
    await queries.insert_upload(database, UploadInfo(id=upload_id, length=len(data), owner="alice"))
    await queries.mark_queued(database, upload_id, len(data))
    await database.disconnect()
    return upload_id


async def _row(settings: Settings, upload_id: str) -> dict:
    database = open_database(settings.database_url)
    await database.connect()
    try:
        row = await queries.get_upload(database, upload_id)
    finally:
        await database.disconnect()
    assert row is not None
    return row


def _wait_for(settings: Settings, upload_id: str, statuses: tuple[str, ...], timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        row = asyncio.run(_row(settings, upload_id))
        if row["status"] in statuses:
            return row
        time.sleep(0.05)
    raise AssertionError(f"{upload_id} is {row['status']} after {timeout}s")


def test_a_duplicate_message_does_no_double_work(
    settings: Settings, running: tuple[dramatiq.Broker, MediaActors]
) -> None:
    broker, actors = running
    upload_id = asyncio.run(_queued_upload(settings, TESTDATA_MEDIA / "hopper.jpg"))

    actors.process_media.send(upload_id)
    actors.process_media.send(upload_id)
    broker.join(actors.process_media.queue_name, timeout=30_000)

    row = _wait_for(settings, upload_id, ("ready", "failed"))
    assert (row["status"], row["attempts"], row["width"]) == ("ready", 1, 128)
    assert sorted(path.name for path in (settings.derivatives_dir / upload_id).iterdir()) == [
        "thumb_1024.jpg",
        "thumb_256.jpg",
        "web.jpg",
    ]


def test_a_transient_failure_is_retried_and_then_succeeds(
    settings: Settings, running: tuple[dramatiq.Broker, MediaActors]
) -> None:
    _, actors = running
    upload_id = asyncio.run(_queued_upload(settings, TESTDATA_MEDIA / "hopper.png"))
    data_path = settings.upload_dir / upload_id
    hidden = data_path.with_name("hidden")
    data_path.rename(hidden)  # the disk "goes away" for the first attempt

    actors.process_media.send(upload_id)
    first = _wait_for(settings, upload_id, ("queued",), timeout=10)
    deadline = time.monotonic() + 10
    while first["error"] is None and time.monotonic() < deadline:
        time.sleep(0.05)
        first = asyncio.run(_row(settings, upload_id))
    hidden.rename(data_path)

    assert "UploadNotFound" in first["error"]
    row = _wait_for(settings, upload_id, ("ready", "failed"))
    assert (row["status"], row["attempts"], row["error"]) == ("ready", 2, None)


def test_a_permanent_failure_is_not_retried(settings: Settings, running: tuple[dramatiq.Broker, MediaActors]) -> None:
    broker, actors = running
    upload_id = asyncio.run(_queued_upload(settings, TESTDATA_MEDIA / "truncated_jpeg.jpg"))

    actors.process_media.send(upload_id)
    broker.join(actors.process_media.queue_name, timeout=30_000)

    row = _wait_for(settings, upload_id, ("ready", "failed"))
    assert (row["status"], row["attempts"], row["detected_type"]) == ("failed", 1, "image/jpeg")
    assert row["error"].startswith("corrupt image")


def test_when_retries_are_spent_the_asset_fails_with_the_last_reason(settings: Settings) -> None:
    settings = replace(settings, media_max_retries=0)
    broker = create_broker(settings)
    actors = declare_actors(broker, settings)
    worker = start_worker(broker, concurrency=1)
    try:
        upload_id = asyncio.run(_queued_upload(settings, TESTDATA_MEDIA / "hopper.png"))
        (settings.upload_dir / upload_id).unlink()

        actors.process_media.send(upload_id)
        row = _wait_for(settings, upload_id, ("ready", "failed"))
    finally:
        worker.stop()
        broker.close()

    assert row["status"] == "failed"
    assert row["error"].startswith("gave up after")
    assert "UploadNotFound" in row["error"]
