"""What the database backends add to ``databases``: statements compiled once, prepared statements, and
SQLite's writer gate. On a real SQLite file and the local PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from databases import Database

from app.db import open_database, prepared, queries, stats
from app.db.atomic import Statements, run_atomically
from app.db.migrations import migrate
from app.db.sqlite_pools import SHARED_CONNECTIONS
from app.db.tables import uploads
from app.vocabulary import AssetStatus, UploadInfo, new_upload_id

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


async def _insert(database: Database, owner: str) -> str:
    upload_id = new_upload_id()
    await queries.insert_upload(database, UploadInfo(id=upload_id, length=10, owner=owner))
    return upload_id


async def test_one_statement_shape_with_different_values_returns_each_calls_rows(database: Database) -> None:
    await migrate(database)
    ids = {owner: await _insert(database, owner) for owner in ("alice", "bob", "carol")}

    for owner, upload_id in ids.items():
        record = await database.fetch_one(sa.select(uploads.c.owner).where(uploads.c.id == upload_id))
        assert record is not None and record._mapping["owner"] == owner
    # IN lists of different lengths change the SQL text itself: never served from the cache.
    for count in (1, 2, 3):
        chosen = list(ids.values())[:count]
        records = await database.fetch_all(sa.select(uploads.c.id).where(uploads.c.id.in_(chosen)))
        assert sorted(record._mapping["id"] for record in records) == sorted(chosen)


async def test_a_prepared_statement_takes_its_values_and_keeps_the_ones_it_fixed(database: Database) -> None:
    await migrate(database)
    upload_id = await _insert(database, "alice")
    uploading = prepared.Prepared(
        sa.select(uploads.c.id, uploads.c.owner).where(
            uploads.c.owner == sa.bindparam("owner"), uploads.c.status == AssetStatus.UPLOADING
        )
    )

    assert await prepared.fetch_all(database, uploading, owner="alice") == [{"id": upload_id, "owner": "alice"}]
    assert await prepared.fetch_all(database, uploading, owner="bob") == []
    assert await queries.mark_queued(database, upload_id, 10)
    assert await prepared.fetch_all(database, uploading, owner="alice") == []
    with pytest.raises(TypeError, match="owner"):
        await prepared.fetch_all(database, uploading)


async def test_a_prepared_write_inside_a_transaction_rolls_back_with_it(database: Database) -> None:
    await migrate(database)
    upload_id = await _insert(database, "alice")

    with pytest.raises(RuntimeError):
        async with database.transaction():
            assert await queries.mark_queued(database, upload_id, 10)
            raise RuntimeError("after the change, before the commit")

    assert await queries.status_of(database, upload_id) == AssetStatus.UPLOADING
    assert [event["event"] for event in await queries.list_events(database, upload_id)] == ["created"]


async def _sqlite(tmp_path: Path, busy_timeout: float = 30.0) -> Database:
    database = open_database(f"sqlite:///{tmp_path / 'gate.db'}", sqlite_busy_timeout_seconds=busy_timeout)
    await database.connect()
    await migrate(database)
    return database


async def test_many_concurrent_sqlite_writers_all_commit_without_waiting_out_the_busy_handler(
    tmp_path: Path,
) -> None:
    database = await _sqlite(tmp_path)
    try:
        started = time.monotonic()
        ids = await asyncio.gather(*(asyncio.create_task(_insert(database, f"user{n}")) for n in range(64)))
        queued = await asyncio.gather(*(asyncio.create_task(queries.mark_queued(database, i, 10)) for i in ids))
        elapsed = time.monotonic() - started
        count = await database.fetch_val(sa.select(sa.func.count()).select_from(uploads))
        events = await database.fetch_val("SELECT COUNT(*) FROM asset_events")
    finally:
        await database.disconnect()

    assert count == 64 and all(queued)
    assert events == 64 * 3  # created, received, queued: each change with its events, none lost
    # SQLite's busy handler sleeps up to 100 ms per retry: 128 fighting transactions took seconds.
    assert elapsed < 10


async def test_a_writer_cancelled_while_waiting_at_the_gate_does_not_keep_it(tmp_path: Path) -> None:
    database = await _sqlite(tmp_path, busy_timeout=5.0)
    try:
        holding, release = asyncio.Event(), asyncio.Event()

        async def hold_a_transaction() -> None:
            async with database.transaction():
                await database.execute(uploads.delete().where(uploads.c.id == "none"))
                holding.set()
                await release.wait()

        holder = asyncio.create_task(hold_a_transaction())
        await holding.wait()
        waiter = asyncio.create_task(_insert(database, "cancelled"))
        await asyncio.sleep(0.2)  # it is now waiting at the gate
        waiter.cancel()
        release.set()
        await holder
        with pytest.raises(asyncio.CancelledError):
            await waiter

        started = time.monotonic()
        upload_id = await asyncio.wait_for(_insert(database, "next"), timeout=4)
        elapsed = time.monotonic() - started
        owners = [row["owner"] for row in await prepared.fetch_all(database, _ALL_OWNERS)]
    finally:
        await database.disconnect()

    assert upload_id and elapsed < 1, "the next writer got in at once"
    assert owners == ["next"], "the cancelled insert left nothing behind"


_ALL_OWNERS = prepared.Prepared(sa.select(uploads.c.owner).order_by(uploads.c.owner))


async def test_statements_outside_a_transaction_share_a_few_sqlite_connections_and_leave_none_in_one(
    tmp_path: Path,
) -> None:
    database = await _sqlite(tmp_path)
    try:
        for _ in range(3):
            ids = await asyncio.gather(*(_insert(database, f"user{n}") for n in range(24)))
            statuses = await asyncio.gather(*(queries.status_of(database, upload_id) for upload_id in ids))
            assert set(statuses) == {AssetStatus.UPLOADING}
        backend = database._backend
        shared = backend.shared.connections  # type: ignore[attr-defined]
        opened = backend.kept.opened  # type: ignore[attr-defined]
        in_transaction = [connection._conn.in_transaction for connection in shared]
        count = await database.fetch_val(sa.select(sa.func.count()).select_from(uploads))
    finally:
        await database.disconnect()

    assert count == 72
    # 144 statements from 24 tasks at once, on a few shared connections; the one more is migrate's.
    assert 1 <= len(shared) <= SHARED_CONNECTIONS and opened <= SHARED_CONNECTIONS + 1, f"{opened} opened"
    assert not any(in_transaction), "each statement and script ended its own transaction"


class _Refused(Exception):
    pass


def _insert_then_refuse(statements: Statements, upload_id: str) -> None:
    statements.fetch_all(_INSERT_OWNER, id=upload_id, owner="script")
    raise _Refused(upload_id)


_INSERT_OWNER = prepared.Prepared(
    uploads.insert().values(
        id=sa.bindparam("id"),
        owner=sa.bindparam("owner"),
        upload_offset=0,
        metadata="{}",
        status=AssetStatus.UPLOADING,
        attempts=0,
        created_at="2026-12-01T00:00:00.000000Z",
        updated_at="2026-12-01T00:00:00.000000Z",
    )
)


async def test_a_script_commits_whole_or_not_at_all_alone_and_inside_a_transaction(database: Database) -> None:
    await migrate(database)
    alone, inside, kept = new_upload_id(), new_upload_id(), new_upload_id()

    with pytest.raises(_Refused):
        await run_atomically(database, _insert_then_refuse, alone)
    async with database.transaction():
        await prepared.fetch_all(database, _INSERT_OWNER, id=kept, owner="outer")
        with pytest.raises(_Refused):
            await run_atomically(database, _insert_then_refuse, inside)
    # A script that ran to its end commits, and returns what it returned.
    created = await run_atomically(database, lambda statements: statements.fetch_value(_OWNER_OF, id=kept))

    owners = {row["id"]: row["owner"] for row in await prepared.fetch_all(database, _ALL_OWNERS_BY_ID)}
    assert owners == {kept: "outer"}, "a refused script leaves nothing, and the transaction around it goes on"
    assert created == "outer"


_OWNER_OF = prepared.Prepared(sa.select(uploads.c.owner).where(uploads.c.id == sa.bindparam("id")))
_ALL_OWNERS_BY_ID = prepared.Prepared(sa.select(uploads.c.id, uploads.c.owner))


async def test_processing_time_percentiles_are_picked_by_the_database_at_their_nearest_rank(
    database: Database,
) -> None:
    await migrate(database)
    times = [40, 10, 30, 20, 50, 70, 60, 90, 80, 100]  # ms, in no order
    for index, milliseconds in enumerate(times):
        upload_id = await _insert(database, "alice" if index % 2 else "bob")
        processed_at = "2026-12-01T10:00:00.000000Z" if index < 8 else "2026-12-01T08:00:00.000000Z"
        await database.execute(
            uploads.update()
            .where(uploads.c.id == upload_id)
            .values(processing_time_ms=milliseconds, processed_at=processed_at)
        )
    await _insert(database, "alice")  # never processed: no time, not counted

    fractions = {"p50": 0.5, "p90": 0.9, "p100": 1.0}
    everyone = await stats.processing_time_percentiles(database, None, "2026-12-01T00:00:00Z", fractions)
    recent = await stats.processing_time_percentiles(database, None, "2026-12-01T09:00:00Z", fractions)
    alices = await stats.processing_time_percentiles(database, "alice", "2026-12-01T00:00:00Z", fractions)
    nobody = await stats.processing_time_percentiles(database, "carol", "2026-12-01T00:00:00Z", fractions)

    assert everyone == (10, {"p50": 50, "p90": 90, "p100": 100})
    assert recent == (8, {"p50": 40, "p90": 90, "p100": 90})  # 10 20 30 40 50 60 70 90: the 80 and 100 are older
    assert alices == (5, {"p50": 70, "p90": 100, "p100": 100})  # 10 20 70 90 100
    assert nobody == (0, {"p50": None, "p90": None, "p100": None})
