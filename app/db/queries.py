"""Every query the server and the workers run against the ``uploads`` table.

Status changes are conditional updates, so two processes racing for one row cannot both win.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from databases import Database

from app.clock import timestamp, timestamp_in
from app.db.tables import asset_events, uploads
from app.vocabulary import AssetStatus, UploadInfo

Row = dict[str, Any]
_JSON_COLUMNS = ("metadata", "details", "derivatives")


async def _change(
    database: Database, statement: sa.Update, upload_id: str, events: list[tuple[str, str | None]]
) -> Any:
    """Run a conditional status change and, if it changed the row, record its events, atomically.
    Returns the row as the statement's RETURNING clause gives it, or None when nothing matched."""
    async with database.transaction():
        record = await database.fetch_one(statement)
        if record is not None:
            now = timestamp()
            for event, detail in events:
                await database.execute(
                    asset_events.insert().values(upload_id=upload_id, at=now, event=event, detail=detail)
                )
    return record


def _as_dict(record: Any) -> Row:
    row = dict(record._mapping)
    for column in _JSON_COLUMNS:
        if row.get(column) is not None:
            row[column] = json.loads(row[column])
    return row


async def insert_upload(database: Database, info: UploadInfo) -> None:
    now = timestamp()
    await database.execute(
        uploads.insert().values(
            id=info.id,
            owner=info.owner,
            filename=info.filename,
            declared_type=info.declared_type,
            upload_length=info.length,
            upload_offset=0,
            metadata=json.dumps(info.metadata),
            status=AssetStatus.UPLOADING,
            attempts=0,
            created_at=info.created_at or now,
            updated_at=now,
        )
    )


async def record_offset(database: Database, upload_id: str, offset: int) -> None:
    await database.execute(
        uploads.update()
        .where(uploads.c.id == upload_id, uploads.c.status == AssetStatus.UPLOADING)
        .values(upload_offset=offset, updated_at=timestamp())
    )


async def mark_queued(database: Database, upload_id: str, offset: int) -> bool:
    """The last byte landed: ``uploading -> queued``. False if the row had already moved on."""
    now = timestamp()
    claimed = await _change(
        database,
        uploads.update()
        .where(uploads.c.id == upload_id, uploads.c.status == AssetStatus.UPLOADING)
        .values(
            upload_length=offset,
            upload_offset=offset,
            status=AssetStatus.QUEUED,
            completed_at=now,
            queued_at=now,
            updated_at=now,
        )
        .returning(uploads.c.id),
        upload_id,
        [("received", f"{offset} bytes"), ("queued", None)],
    )
    return claimed is not None


async def claim_for_processing(database: Database, upload_id: str, lease_seconds: float) -> Row | None:
    """Take the row if it is ``queued``, or ``processing`` under an expired lease; else None.

    The condition and the change are one statement, so a duplicate message finds nothing to claim.
    """
    now = timestamp()
    statement = (
        uploads.update()
        .where(
            uploads.c.id == upload_id,
            sa.or_(
                uploads.c.status == AssetStatus.QUEUED,
                sa.and_(uploads.c.status == AssetStatus.PROCESSING, uploads.c.lease_until < now),
            ),
        )
        .values(
            status=AssetStatus.PROCESSING,
            attempts=uploads.c.attempts + 1,
            lease_until=timestamp_in(lease_seconds),
            updated_at=now,
        )
        .returning(*uploads.c)
    )
    async with database.transaction():
        record = await database.fetch_one(statement)
        if record is None:
            return None
        row = _as_dict(record)
        await database.execute(
            asset_events.insert().values(
                upload_id=upload_id, at=now, event="started", detail=f"attempt {row['attempts']}"
            )
        )
    return row


async def mark_ready(
    database: Database,
    upload_id: str,
    *,
    detected_type: str,
    width: int | None,
    height: int | None,
    duration_seconds: float | None,
    media_format: str | None,
    details: dict[str, Any],
    derivatives: list[str],
    processing_time_ms: int,
) -> None:
    now = timestamp()
    await _change(
        database,
        uploads.update()
        .where(uploads.c.id == upload_id, uploads.c.status == AssetStatus.PROCESSING)
        .values(
            status=AssetStatus.READY,
            error=None,
            detected_type=detected_type,
            width=width,
            height=height,
            duration_seconds=duration_seconds,
            format=media_format,
            details=json.dumps(details),
            derivatives=json.dumps(derivatives),
            processing_time_ms=processing_time_ms,
            processed_at=now,
            updated_at=now,
            lease_until=None,
        )
        .returning(uploads.c.id),
        upload_id,
        [("ready", f"{processing_time_ms} ms")],
    )


async def mark_failed(
    database: Database,
    upload_id: str,
    reason: str,
    *,
    detected_type: str | None = None,
    processing_time_ms: int | None = None,
) -> None:
    now = timestamp()
    values: dict[str, Any] = {
        "status": AssetStatus.FAILED,
        "error": reason,
        "processed_at": now,
        "updated_at": now,
        "lease_until": None,
    }
    if detected_type is not None:
        values["detected_type"] = detected_type
    if processing_time_ms is not None:
        values["processing_time_ms"] = processing_time_ms
    await _change(
        database,
        uploads.update()
        .where(
            uploads.c.id == upload_id,
            uploads.c.status.in_([AssetStatus.QUEUED, AssetStatus.PROCESSING]),
        )
        .values(**values)
        .returning(uploads.c.id),
        upload_id,
        [("failed", reason)],
    )


async def get_upload(database: Database, upload_id: str) -> Row | None:
    record = await database.fetch_one(uploads.select().where(uploads.c.id == upload_id))
    return None if record is None else _as_dict(record)


async def list_uploads(
    database: Database,
    *,
    owner: str | None,
    status: AssetStatus | None,
    before: tuple[str, str] | None,
    limit: int,
) -> list[Row]:
    """Newest first. ``before`` is the (created_at, id) of the last row of the previous page."""
    query = uploads.select()
    if owner is not None:
        query = query.where(uploads.c.owner == owner)
    if status is not None:
        query = query.where(uploads.c.status == status)
    if before is not None:
        created_at, upload_id = before
        query = query.where(
            sa.or_(
                uploads.c.created_at < created_at,
                sa.and_(uploads.c.created_at == created_at, uploads.c.id < upload_id),
            )
        )
    query = query.order_by(uploads.c.created_at.desc(), uploads.c.id.desc()).limit(limit)
    return [_as_dict(record) for record in await database.fetch_all(query)]


async def delete_upload(database: Database, upload_id: str) -> None:
    async with database.transaction():
        await database.execute(asset_events.delete().where(asset_events.c.upload_id == upload_id))
        await database.execute(uploads.delete().where(uploads.c.id == upload_id))


async def list_events(database: Database, upload_id: str) -> list[Row]:
    records = await database.fetch_all(
        sa.select(asset_events.c.at, asset_events.c.event, asset_events.c.detail)
        .where(asset_events.c.upload_id == upload_id)
        .order_by(asset_events.c.at)
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
        now = timestamp()
        for upload_id in requeued:
            await database.execute(
                asset_events.insert().values(upload_id=upload_id, at=now, event="queued", detail=reason)
            )
    return requeued


async def ids_to_redispatch(database: Database, queued_before: str | None) -> list[str]:
    """Rows whose message may be lost: ``queued`` since before ``queued_before`` (every queued row
    when None), and ``processing`` rows whose lease ran out. Marks them re-sent now, so a long queue
    is not flooded with duplicates on every sweep."""
    now = timestamp()
    stale_queued = uploads.c.status == AssetStatus.QUEUED
    if queued_before is not None:
        stale_queued = sa.and_(stale_queued, uploads.c.queued_at < queued_before)
    expired_lease = sa.and_(uploads.c.status == AssetStatus.PROCESSING, uploads.c.lease_until < now)
    records = await database.fetch_all(
        uploads.update().where(sa.or_(stale_queued, expired_lease)).values(queued_at=now).returning(uploads.c.id)
    )
    return [record._mapping["id"] for record in records]


async def renew_lease(database: Database, upload_id: str, lease_seconds: float) -> bool:
    """Extend a running job's claim; False if the row is no longer ``processing`` (it was deleted, or
    another worker took it over after this one's lease ran out)."""
    record = await database.fetch_one(
        uploads.update()
        .where(uploads.c.id == upload_id, uploads.c.status == AssetStatus.PROCESSING)
        .values(lease_until=timestamp_in(lease_seconds))
        .returning(uploads.c.id)
    )
    return record is not None


async def release_for_retry(database: Database, upload_id: str, reason: str) -> None:
    """A transient failure: ``processing -> queued`` keeping the reason, so the retry can claim it."""
    await _change(
        database,
        uploads.update()
        .where(uploads.c.id == upload_id, uploads.c.status == AssetStatus.PROCESSING)
        .values(status=AssetStatus.QUEUED, error=reason, lease_until=None, updated_at=timestamp())
        .returning(uploads.c.id),
        upload_id,
        [("retried", reason)],
    )
