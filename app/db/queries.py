"""Every query the server and the workers run against the ``uploads`` table.

Status changes are conditional updates, so two processes racing for one row cannot both win.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from databases import Database

from app.clock import timestamp, timestamp_in
from app.db.tables import uploads
from app.vocabulary import AssetStatus, UploadInfo

Row = dict[str, Any]
_JSON_COLUMNS = ("metadata", "details", "derivatives")


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
    claimed = await database.fetch_one(
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
        .returning(uploads.c.id)
    )
    return claimed is not None


async def claim_for_processing(database: Database, upload_id: str, lease_seconds: float) -> Row | None:
    """Take the row if it is ``queued``, or ``processing`` under an expired lease; else None.

    The condition and the change are one statement, so a duplicate message finds nothing to claim.
    """
    now = timestamp()
    record = await database.fetch_one(
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
    return None if record is None else _as_dict(record)


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
    await database.execute(
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
    await database.execute(
        uploads.update()
        .where(
            uploads.c.id == upload_id,
            uploads.c.status.in_([AssetStatus.QUEUED, AssetStatus.PROCESSING]),
        )
        .values(**values)
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
    await database.execute(uploads.delete().where(uploads.c.id == upload_id))


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


async def release_for_retry(database: Database, upload_id: str, reason: str) -> None:
    """A transient failure: ``processing -> queued`` keeping the reason, so the retry can claim it."""
    await database.execute(
        uploads.update()
        .where(uploads.c.id == upload_id, uploads.c.status == AssetStatus.PROCESSING)
        .values(status=AssetStatus.QUEUED, error=reason, lease_until=None, updated_at=timestamp())
    )
