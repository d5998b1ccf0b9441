"""The uploads table and its queries on both databases: a real SQLite file and the local PostgreSQL."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
import sqlalchemy as sa
from databases import Database

from app.db import jobs, listing, open_database, queries
from app.db.clock import database_clock
from app.db.listing import AssetFilter
from app.db.migrations import MIGRATIONS, migrate
from app.vocabulary import AssetStatus, UploadInfo, new_upload_id

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _insert(database: Database, owner: str = "alice", created_at: str = "") -> str:
    upload_id = new_upload_id()
    info = UploadInfo(id=upload_id, length=10, owner=owner, metadata={"filename": "a.jpg"}, created_at=created_at)
    await queries.insert_upload(database, info)
    return upload_id


async def _mark_png_ready(
    database: Database,
    upload_id: str,
    attempt: int,
    derivatives: list[str],
    while_held: Callable[[], None] | None = None,
) -> bool:
    return await jobs.mark_ready(
        database,
        upload_id,
        attempt,
        detected_type="image/png",
        width=1,
        height=1,
        duration_seconds=None,
        media_format="PNG",
        details={},
        derivatives=derivatives,
        processing_time_ms=1,
        while_held=while_held,
    )


async def test_migrations_run_once_and_are_idempotent(database: Database) -> None:
    assert await migrate(database) == len(MIGRATIONS)
    assert await migrate(database) == len(MIGRATIONS)

    assert await database.fetch_val("SELECT COUNT(*) FROM schema_version") == len(MIGRATIONS)


async def test_concurrent_migrations_do_not_collide(database: Database, tmp_path: Path) -> None:
    other = Database(str(database.url), **({"timeout": 30} if database.url.dialect == "sqlite" else {}))
    await other.connect()
    try:
        await asyncio.gather(migrate(database), migrate(other))
    finally:
        await other.disconnect()

    assert await database.fetch_val("SELECT COUNT(*) FROM schema_version") == len(MIGRATIONS)


async def test_upload_moves_through_its_lifecycle(database: Database) -> None:
    await migrate(database)
    upload_id = await _insert(database)

    await queries.record_offset(database, upload_id, 4)
    assert (await queries.get_upload(database, upload_id))["upload_offset"] == 4
    assert await queries.mark_queued(database, upload_id, 10)
    assert not await queries.mark_queued(database, upload_id, 10), "only an uploading row can be queued"

    claimed = await jobs.claim(database, upload_id, lease_seconds=60)
    assert claimed is not None
    assert (claimed["status"], claimed["attempts"], claimed["metadata"]) == ("processing", 1, {"filename": "a.jpg"})
    assert await jobs.claim(database, upload_id, 60) is None, "a duplicate message claims nothing"

    assert await jobs.mark_ready(
        database,
        upload_id,
        1,
        detected_type="image/jpeg",
        width=3,
        height=2,
        duration_seconds=None,
        media_format="JPEG",
        details={"mode": "RGB"},
        derivatives=["thumb_256.jpg"],
        processing_time_ms=5,
    )
    row = await queries.get_upload(database, upload_id)
    assert (row["status"], row["width"], row["derivatives"], row["lease_until"]) == (
        "ready",
        3,
        ["thumb_256.jpg"],
        None,
    )


async def test_expired_lease_can_be_claimed_again_and_is_redispatched(database: Database) -> None:
    await migrate(database)
    upload_id = await _insert(database)
    await queries.mark_queued(database, upload_id, 10)
    await jobs.claim(database, upload_id, lease_seconds=-1)

    assert await jobs.ids_to_redispatch(database, queued_before="0000") == [upload_id]
    again = await jobs.claim(database, upload_id, lease_seconds=60)

    assert again is not None and again["attempts"] == 2
    assert await jobs.ids_to_redispatch(database, queued_before="0000") == []


async def test_redispatch_finds_every_queued_row_at_start_up_and_only_stale_ones_later(database: Database) -> None:
    await migrate(database)
    upload_id = await _insert(database)
    await queries.mark_queued(database, upload_id, 10)

    assert await jobs.ids_to_redispatch(database, queued_before="0000") == []
    assert await jobs.ids_to_redispatch(database, queued_before=None) == [upload_id]


async def test_listing_is_newest_first_filtered_and_paged(database: Database) -> None:
    await migrate(database)
    ids = [await _insert(database, created_at=f"2026-01-01T00:00:0{index}.000000Z") for index in range(5)]
    other = await _insert(database, owner="bob", created_at="2026-01-01T00:00:09.000000Z")
    await queries.mark_queued(database, ids[1], 10)

    alices = AssetFilter(owner="alice")
    first = await listing.list_assets(database, alices, before=None, limit=3)
    last = first[-1]
    rest = await listing.list_assets(database, alices, before=(last["created_at"], last["id"]), limit=3)
    queued = await listing.list_assets(database, AssetFilter(statuses=(AssetStatus.QUEUED,)), before=None, limit=10)
    everyone = await listing.list_assets(database, AssetFilter(), before=None, limit=10)

    assert [row["id"] for row in first + rest] == ids[::-1]
    assert [row["id"] for row in queued] == [ids[1]]
    assert everyone[0]["id"] == other


async def test_failed_keeps_reason_and_release_for_retry_requeues(database: Database) -> None:
    await migrate(database)
    upload_id = await _insert(database)
    await queries.mark_queued(database, upload_id, 10)
    await jobs.claim(database, upload_id, 60)

    assert await jobs.release_for_retry(database, upload_id, 1, "OSError: disk went away")
    assert (await queries.get_upload(database, upload_id))["status"] == "queued"
    await jobs.claim(database, upload_id, 60)
    assert await jobs.mark_failed(database, upload_id, 2, "corrupt image: truncated", detected_type="image/jpeg")

    row = await queries.get_upload(database, upload_id)
    assert (row["status"], row["error"], row["detected_type"], row["attempts"]) == (
        "failed",
        "corrupt image: truncated",
        "image/jpeg",
        2,
    )


async def test_sqlite_connections_are_reused_across_tasks(tmp_path: Path) -> None:
    database = open_database(f"sqlite:///{tmp_path / 'pool.db'}")
    await database.connect()
    try:
        await migrate(database)
        # Every task is a new "request": databases would open (and close) a connection for each.
        await asyncio.gather(*(asyncio.create_task(_insert(database)) for _ in range(50)))
        for _ in range(50):
            await asyncio.create_task(_insert(database))
        opened = database._backend._pool.opened  # type: ignore[attr-defined]
        count = await database.fetch_val("SELECT COUNT(*) FROM uploads")
    finally:
        await database.disconnect()

    assert count == 100
    assert opened <= 50 + 2, "sequential tasks must reuse the connections of earlier ones"


async def test_a_renewed_lease_keeps_a_running_job_from_being_sent_again(database: Database) -> None:
    await migrate(database)
    upload_id = await _insert(database)
    await queries.mark_queued(database, upload_id, 10)
    await jobs.claim(database, upload_id, lease_seconds=-1)

    assert await jobs.renew_lease(database, upload_id, 1, 60)

    assert await jobs.ids_to_redispatch(database, queued_before="0000") == []
    await _mark_png_ready(database, upload_id, 1, [])
    assert not await jobs.renew_lease(database, upload_id, 1, 60), "a finished job has no lease to renew"


async def _superseded(database: Database) -> str:
    """A row whose attempt 1 lost its lease and whose job attempt 2 claimed."""
    upload_id = await _insert(database)
    await queries.mark_queued(database, upload_id, 10)
    await jobs.claim(database, upload_id, lease_seconds=-1)
    again = await jobs.claim(database, upload_id, lease_seconds=60)
    assert again is not None and again["attempts"] == 2
    return upload_id


async def test_a_superseded_attempt_can_change_nothing(database: Database) -> None:
    await migrate(database)
    upload_id = await _superseded(database)
    ran_while_held = []

    def swap() -> None:
        ran_while_held.append(True)

    assert not await jobs.renew_lease(database, upload_id, 1, 60)
    assert not await _mark_png_ready(database, upload_id, 1, ["thumb_256.jpg"], swap)
    assert not await jobs.mark_failed(database, upload_id, 1, "late")
    assert not await jobs.release_for_retry(database, upload_id, 1, "late")

    row = await queries.get_upload(database, upload_id)
    assert (row["status"], row["attempts"], row["error"], row["derivatives"]) == ("processing", 2, None, None)
    assert ran_while_held == [], "a superseded attempt's derivatives are never put in place"
    assert [event["event"] for event in await queries.list_events(database, upload_id)] == [
        "created",
        "received",
        "queued",
        "started",
        "started",
    ]


async def test_work_done_while_the_row_is_held_rolls_the_change_back_when_it_fails(database: Database) -> None:
    await migrate(database)
    upload_id = await _insert(database)
    await queries.mark_queued(database, upload_id, 10)
    await jobs.claim(database, upload_id, lease_seconds=60)

    def swap() -> None:
        raise OSError("disk went away")

    with pytest.raises(OSError):
        await _mark_png_ready(database, upload_id, 1, [], swap)

    row = await queries.get_upload(database, upload_id)
    assert (row["status"], row["attempts"]) == ("processing", 1)
    assert "ready" not in [event["event"] for event in await queries.list_events(database, upload_id)]


async def test_a_retry_restarts_the_queued_clock_and_giving_up_takes_only_a_waiting_row(database: Database) -> None:
    await migrate(database)
    upload_id = await _insert(database)
    await queries.mark_queued(database, upload_id, 10)
    queued_at = (await queries.get_upload(database, upload_id))["queued_at"]
    await jobs.claim(database, upload_id, lease_seconds=60)
    await asyncio.sleep(0.01)

    assert await jobs.release_for_retry(database, upload_id, 1, "OSError: disk went away")
    retried = await queries.get_upload(database, upload_id)
    assert retried["queued_at"] > queued_at, "the sweep must leave a fresh retry to the broker"
    assert await jobs.ids_to_redispatch(database, queued_before=queued_at) == []

    await jobs.claim(database, upload_id, lease_seconds=60)
    assert not await jobs.give_up(database, upload_id, "gave up"), "attempt 2 holds the row"
    assert await jobs.release_for_retry(database, upload_id, 2, "OSError: again")
    assert await jobs.give_up(database, upload_id, "gave up after 2 retries: OSError: again")
    assert (await queries.get_upload(database, upload_id))["status"] == "failed"


async def test_leases_are_on_the_database_clock(database: Database) -> None:
    await migrate(database)
    upload_id = await _insert(database)
    await queries.mark_queued(database, upload_id, 10)
    before = await database.fetch_val(sa.select(database_clock(database)))

    await jobs.claim(database, upload_id, lease_seconds=60)

    lease_until = (await queries.get_upload(database, upload_id))["lease_until"]
    after_a_minute = await database.fetch_val(sa.select(database_clock(database, 61)))
    assert len(lease_until) == len(before) == len("2026-11-25T01:04:25.820737Z")
    assert before < lease_until < after_a_minute
