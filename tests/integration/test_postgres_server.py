"""The whole path on PostgreSQL instead of SQLite: server, in-process worker, status API."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from tusclient import client as tus_client

from tests.conftest import require_service
from tests.database_choice import POSTGRES_TEST_URL
from tests.servers import TESTDATA_MEDIA, Server, start_server, wait_for_asset


async def _admin(statement: str) -> bool:
    try:
        connection = await asyncpg.connect(POSTGRES_TEST_URL, timeout=3)
    except (OSError, asyncpg.PostgresError):
        return False
    try:
        await connection.execute(statement)
    finally:
        await connection.close()
    return True


@pytest.fixture
def postgres_server(tmp_path: Path) -> Iterator[Server]:
    name = f"tusmedia_server_{uuid.uuid4().hex[:12]}"
    require_service("PostgreSQL", asyncio.run(_admin(f'CREATE DATABASE "{name}"')))
    database_url = POSTGRES_TEST_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        running = start_server(tmp_path / "data", {"DATABASE_URL": database_url})
        yield running
        running.stop()
    finally:
        asyncio.run(_admin(f'DROP DATABASE "{name}" WITH (FORCE)'))


def test_a_tuspy_upload_reaches_ready_with_the_database_on_postgresql(
    postgres_server: Server, http: httpx.Client
) -> None:
    with (TESTDATA_MEDIA / "portrait_orientation_6.jpg").open("rb") as stream:
        uploader = tus_client.TusClient(postgres_server.files_url).uploader(
            file_stream=stream, chunk_size=2000, metadata={"filename": "portrait.jpg"}
        )
        uploader.upload()
    upload_id = uploader.url.rsplit("/", 1)[1]

    asset = wait_for_asset(http, postgres_server, upload_id)

    assert (asset["status"], asset["width"], asset["height"], asset["filename"]) == ("ready", 480, 640, "portrait.jpg")
    assert [event["event"] for event in asset["events"]] == ["created", "received", "queued", "started", "ready"]
    listed = http.get(f"{postgres_server.base_url}/api/assets", params={"status": "ready"}).json()
    assert [item["id"] for item in listed["items"]] == [upload_id]
    assert not (postgres_server.data_dir / "tusmedia.db").exists(), "nothing went to SQLite"
