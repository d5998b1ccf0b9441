"""A media job's hold on its row: the claim, the lease, and how the attempt ends.

Every claim bumps ``attempts``, and the attempt number is the job's ticket: renewing the lease and
every status change after the claim are conditional on it, so an attempt that was superseded (its
lease ran out while it was frozen, and the sweep gave the job to another worker) can change nothing.
Leases are read and written on the database's clock (``app.db.clock``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from databases import Database

from app.clock import timestamp
from app.db import prepared
from app.db.atomic import Statements, run_atomically
from app.db.clock import database_clock, lease, prepared_clock
from app.db.prepared import Prepared
from app.db.queries import Row, as_row, change_status
from app.db.tables import uploads
from app.notify.outbox import announce, record_events
from app.vocabulary import AssetStatus


def _held_by(upload_id: Any, attempt: Any) -> sa.ColumnElement[bool]:
    """The row as one attempt holds it: values, or bind parameters for a prepared statement."""
    return sa.and_(uploads.c.id == upload_id, uploads.c.status == AssetStatus.PROCESSING, uploads.c.attempts == attempt)


def _lease_expired(clock: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
    return sa.and_(uploads.c.status == AssetStatus.PROCESSING, uploads.c.lease_until < clock)


def _claim_statement(dialect_name: str) -> sa.Update:
    expired = _lease_expired(prepared_clock(dialect_name))
    return (
        uploads.update()
        .where(uploads.c.id == sa.bindparam("upload_id"), sa.or_(uploads.c.status == AssetStatus.QUEUED, expired))
        .values(
            status=AssetStatus.PROCESSING,
            attempts=uploads.c.attempts + 1,
            lease_until=prepared_clock(dialect_name, leased=True),
            updated_at=sa.bindparam("now"),
        )
        .returning(*uploads.c)
    )


_CLAIM = Prepared(_claim_statement)
_HELD = _held_by(sa.bindparam("upload_id"), sa.bindparam("attempt"))
_RENEW_LEASE = Prepared(
    lambda dialect_name: (
        uploads.update()
        .where(_HELD)
        .values(lease_until=prepared_clock(dialect_name, leased=True))
        .returning(uploads.c.id)
    )
)
_READY_COLUMNS = (
    "detected_type",
    "width",
    "height",
    "duration_seconds",
    "format",
    "details",
    "derivatives",
    "processing_time_ms",
)
_MARK_READY = Prepared(
    uploads.update()
    .where(_HELD)
    .values(
        {
            **{name: sa.bindparam(name) for name in _READY_COLUMNS},
            "status": AssetStatus.READY,
            "error": None,
            "derivatives_attempt": sa.bindparam("attempt"),
            "processed_at": sa.bindparam("now"),
            "updated_at": sa.bindparam("now"),
            "lease_until": None,
        }
    )
    .returning(*uploads.c)
)


async def claim(database: Database, upload_id: str, lease_seconds: float) -> Row | None:
    """Take the row if it is ``queued``, or ``processing`` under an expired lease; else None. The
    returned row's ``attempts`` is this attempt's number.

    The condition and the change are one statement, so a duplicate message finds nothing to claim.
    """
    record = await run_atomically(database, _claim, upload_id, timestamp(), lease(lease_seconds))
    if record is None:
        return None
    announce(upload_id, 0)
    return as_row(record)


def _claim(statements: Statements, upload_id: str, now: str, leased: dict[str, Any]) -> Row | None:
    record = statements.fetch_one(_CLAIM, upload_id=upload_id, now=now, **leased)
    if record is not None:
        record_events(statements, upload_id, [("started", f"attempt {record['attempts']}")], record)
    return record


async def renew_lease(database: Database, upload_id: str, attempt: int, lease_seconds: float) -> bool:
    """Extend the attempt's claim; False when it no longer holds the row (deleted, or taken over)."""
    values = {"upload_id": upload_id, "attempt": attempt, **lease(lease_seconds)}
    return await prepared.fetch_one(database, _RENEW_LEASE, **values) is not None


async def mark_ready(
    database: Database,
    upload_id: str,
    attempt: int,
    *,
    detected_type: str,
    width: int | None,
    height: int | None,
    duration_seconds: float | None,
    media_format: str | None,
    details: dict[str, Any],
    derivatives: list[str],
    processing_time_ms: int,
    while_held: Callable[[], None] | None = None,
) -> bool:
    """The attempt succeeded. ``while_held`` (putting the derivatives in place) runs only if the
    attempt still holds the row, inside the change: a deleted or superseded job leaves nothing. It is
    plain code, run in the database connection's thread on SQLite."""
    values = {
        "upload_id": upload_id,
        "attempt": attempt,
        "detected_type": detected_type,
        "width": width,
        "height": height,
        "duration_seconds": duration_seconds,
        "format": media_format,
        "details": json.dumps(details),
        "derivatives": json.dumps(derivatives),
        "processing_time_ms": processing_time_ms,
        "now": timestamp(),
    }
    events: list[tuple[str, str | None]] = [("ready", f"{processing_time_ms} ms")]
    return await change_status(database, _MARK_READY, upload_id, events, while_held, values) is not None


def _failure(reason: str, detected_type: str | None, processing_time_ms: int | None) -> dict[str, Any]:
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
    return values


async def mark_failed(
    database: Database,
    upload_id: str,
    attempt: int,
    reason: str,
    *,
    detected_type: str | None = None,
    processing_time_ms: int | None = None,
) -> bool:
    """The attempt failed for good (a file that cannot be processed, or out of time)."""
    changed = await change_status(
        database,
        uploads.update()
        .where(_held_by(upload_id, attempt))
        .values(**_failure(reason, detected_type, processing_time_ms))
        .returning(uploads.c.id),
        upload_id,
        [("failed", reason)],
    )
    return changed is not None


async def release_for_retry(database: Database, upload_id: str, attempt: int, reason: str) -> bool:
    """A transient failure: ``processing -> queued`` keeping the reason, for the broker's retry.

    The queued clock starts again, so the recovery sweep leaves the row to that retry instead of
    sending a second message that would run a chain of retries of its own."""
    now = timestamp()
    changed = await change_status(
        database,
        uploads.update()
        .where(_held_by(upload_id, attempt))
        .values(status=AssetStatus.QUEUED, error=reason, lease_until=None, queued_at=now, updated_at=now)
        .returning(uploads.c.id),
        upload_id,
        [("retried", reason)],
    )
    return changed is not None


async def give_up(database: Database, upload_id: str, reason: str) -> bool:
    """The broker spent its retries: a row still waiting for one ends ``failed``. A row that another
    attempt holds, or that ended meanwhile, is left alone."""
    changed = await change_status(
        database,
        uploads.update()
        .where(uploads.c.id == upload_id, uploads.c.status == AssetStatus.QUEUED)
        .values(**_failure(reason, None, None))
        .returning(uploads.c.id),
        upload_id,
        [("failed", reason)],
    )
    return changed is not None


async def ids_to_redispatch(database: Database, queued_before: str | None) -> list[str]:
    """Rows whose message may be lost: ``queued`` since before ``queued_before`` (every queued row
    when None), and ``processing`` rows whose lease ran out. Marks them re-sent now, so a long queue
    is not flooded with duplicates on every sweep."""
    stale_queued = uploads.c.status == AssetStatus.QUEUED
    if queued_before is not None:
        stale_queued = sa.and_(stale_queued, uploads.c.queued_at < queued_before)
    records = await database.fetch_all(
        uploads.update()
        .where(sa.or_(stale_queued, _lease_expired(database_clock(database))))
        .values(queued_at=timestamp())
        .returning(uploads.c.id)
    )
    return [record._mapping["id"] for record in records]
