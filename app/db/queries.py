"""Every query the server and the workers run against the ``uploads`` table.

Status changes are conditional updates, so two processes racing for one row cannot both win.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from databases import Database

from app.clock import timestamp
from app.db import prepared
from app.db.atomic import Statements, run_atomically, run_in_transaction
from app.db.prepared import Prepared
from app.db.tables import asset_events, uploads
from app.notify.outbox import DELETED, announce, record_events
from app.vocabulary import AssetStatus, UploadInfo

Row = dict[str, Any]
_JSON_COLUMNS = ("metadata", "details", "derivatives")


async def change_status(
    database: Database,
    statement: sa.Update | Prepared,
    upload_id: str,
    events: list[tuple[str, str | None]],
    while_held: Callable[[], None] | None = None,
    values: dict[str, Any] | None = None,
) -> Any:
    """Run a conditional status change and, if it changed the row, record its events, atomically.
    Returns the row as the statement's RETURNING clause gives it, or None when nothing matched.

    ``while_held`` runs after the change matched and before it commits, while the row is locked: work
    that must happen if and only if the change does (an exception in it rolls the change back). It
    is plain code, and on SQLite it runs in the database connection's thread.
    The events' webhook deliveries are queued in the same transaction (``app.notify.outbox``).
    A ``Prepared`` statement takes its ``values`` and returns the whole row, as a dict: its events
    are recorded from that row rather than from reading it again, and the whole change is one
    script (``app.db.atomic``)."""
    record: Any
    if isinstance(statement, Prepared):
        record, deliveries = await run_atomically(
            database, _change_status, statement, values or {}, upload_id, events, while_held
        )
    else:
        async with database.transaction():
            record = await database.fetch_one(statement)
            deliveries = 0
            if record is not None:
                deliveries = await run_in_transaction(database, record_events, upload_id, events)
                if while_held is not None:
                    while_held()
    if record is not None:
        announce(upload_id, deliveries)
    return record


def _change_status(
    statements: Statements,
    statement: Prepared,
    values: dict[str, Any],
    upload_id: str,
    events: list[tuple[str, str | None]],
    while_held: Callable[[], None] | None,
) -> tuple[Row | None, int]:
    row = statements.fetch_one(statement, **values)
    if row is None:
        return None, 0
    deliveries = record_events(statements, upload_id, events, row)
    if while_held is not None:
        while_held()
    return row, deliveries


def as_row(record: Any) -> Row:
    row = dict(record) if isinstance(record, dict) else dict(record._mapping)
    for column in _JSON_COLUMNS:
        if row.get(column) is not None:
            row[column] = json.loads(row[column])
    return row


_INSERT_COLUMNS = (
    "id",
    "owner",
    "filename",
    "declared_type",
    "upload_length",
    "upload_offset",
    "metadata",
    "status",
    "attempts",
    "created_at",
    "updated_at",
)
_INSERT_UPLOAD = Prepared(
    uploads.insert().values({name: sa.bindparam(name) for name in _INSERT_COLUMNS}).returning(*uploads.c)
)


async def insert_upload(database: Database, info: UploadInfo) -> None:
    """The row and its ``created`` event (``upload.created``), in one transaction."""
    deliveries = await run_atomically(database, _insert_upload, info, timestamp())
    announce(info.id, deliveries)


def _insert_upload(statements: Statements, info: UploadInfo, now: str) -> int:
    row = statements.fetch_one(
        _INSERT_UPLOAD,
        id=info.id,
        owner=info.owner,
        filename=info.filename,
        declared_type=info.declared_type,
        upload_length=info.length,
        upload_offset=0,
        metadata=json.dumps(info.metadata),
        status=str(AssetStatus.UPLOADING),
        attempts=0,
        created_at=info.created_at or now,
        updated_at=now,
    )
    assert row is not None  # an INSERT returns its row
    return record_events(statements, info.id, [("created", None)], row)


_RECORD_OFFSET = Prepared(
    uploads.update()
    .where(uploads.c.id == sa.bindparam("upload_id"), uploads.c.status == AssetStatus.UPLOADING)
    .values(upload_offset=sa.bindparam("offset"), updated_at=sa.bindparam("now"))
)


async def record_offset(database: Database, upload_id: str, offset: int) -> None:
    await prepared.fetch_all(database, _RECORD_OFFSET, upload_id=upload_id, offset=offset, now=timestamp())


_MARK_QUEUED = Prepared(
    uploads.update()
    .where(uploads.c.id == sa.bindparam("upload_id"), uploads.c.status == AssetStatus.UPLOADING)
    .values(
        upload_length=sa.bindparam("offset"),
        upload_offset=sa.bindparam("offset"),
        status=AssetStatus.QUEUED,
        completed_at=sa.bindparam("now"),
        queued_at=sa.bindparam("now"),
        updated_at=sa.bindparam("now"),
    )
    .returning(*uploads.c)
)


async def mark_queued(database: Database, upload_id: str, offset: int) -> bool:
    """The last byte landed: ``uploading -> queued``. False if the row had already moved on."""
    claimed = await change_status(
        database,
        _MARK_QUEUED,
        upload_id,
        [("received", f"{offset} bytes"), ("queued", None)],
        values={"upload_id": upload_id, "offset": offset, "now": timestamp()},
    )
    return claimed is not None


_STATUS_OF = Prepared(sa.select(uploads.c.status).where(uploads.c.id == sa.bindparam("upload_id")))


async def status_of(database: Database, upload_id: str) -> AssetStatus | None:
    value = await prepared.fetch_value(database, _STATUS_OF, upload_id=upload_id)
    return None if value is None else AssetStatus(value)


async def uploading_ids(database: Database) -> list[str]:
    """Rows still ``uploading``: the recovery sweep checks which of them have all their bytes."""
    records = await database.fetch_all(sa.select(uploads.c.id).where(uploads.c.status == AssetStatus.UPLOADING))
    return [record._mapping["id"] for record in records]


async def get_upload(database: Database, upload_id: str) -> Row | None:
    record = await database.fetch_one(uploads.select().where(uploads.c.id == upload_id))
    return None if record is None else as_row(record)


async def delete_upload(database: Database, upload_id: str, detail: str | None = None) -> None:
    """The row goes and its ``deleted`` event (``asset.deleted``) is recorded, in one transaction. The
    asset's history stays: its owner column keeps it private, and an upload id is never reused."""
    async with database.transaction():
        record = await database.fetch_one(uploads.delete().where(uploads.c.id == upload_id).returning(*uploads.c))
        deliveries = 0
        if record is not None:
            events = [(DELETED, detail)]
            row = dict(record._mapping)
            deliveries = await run_in_transaction(database, record_events, upload_id, events, row, DELETED)
    if record is not None:
        announce(upload_id, deliveries)


async def list_events(database: Database, upload_id: str) -> list[Row]:
    records = await database.fetch_all(
        sa.select(asset_events.c.at, asset_events.c.event, asset_events.c.detail)
        .where(asset_events.c.upload_id == upload_id)
        .order_by(asset_events.c.id)
    )
    return [dict(record._mapping) for record in records]


# A queued_at this old makes the next recovery sweep send the job, from whichever process runs it.
LONG_AGO = "1970-01-01T00:00:00.000000Z"


async def requeue(database: Database, upload_ids: list[str] | None, reason: str) -> list[str]:
    """``failed`` or ``ready`` rows back to ``queued`` for another run: the given ids, or every failed
    row when ``upload_ids`` is None. Returns the ids requeued. Marked as long queued, so the next
    recovery sweep sends them even when no broker is reachable from here."""
    condition: sa.ColumnElement[bool] = uploads.c.status.in_([AssetStatus.FAILED, AssetStatus.READY])
    if upload_ids is None:
        condition = uploads.c.status == AssetStatus.FAILED
    else:
        condition = sa.and_(condition, uploads.c.id.in_(upload_ids))
    async with database.transaction():
        records = await database.fetch_all(
            uploads.update()
            .where(condition)
            .values(status=AssetStatus.QUEUED, error=None, queued_at=LONG_AGO, updated_at=timestamp())
            .returning(uploads.c.id)
        )
        requeued = [record._mapping["id"] for record in records]
        for upload_id in requeued:
            await run_in_transaction(database, record_events, upload_id, [("queued", reason)])
    for upload_id in requeued:
        announce(upload_id, 0)
    return requeued
