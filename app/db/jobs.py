"""A media job's hold on its row: the claim, the lease, and how the attempt ends.

Every claim bumps ``attempts``, and the attempt number is the job's ticket: renewing the lease and
every status change after the claim are conditional on it, so an attempt that was superseded (its
lease ran out while it was frozen, and the sweep gave the job to another worker) can change nothing.
Leases are read and written on the database's clock, never a host's, so workers on machines whose
clocks disagree still agree on when a lease has run out.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import sqlalchemy as sa
from databases import Database

from app.clock import timestamp
from app.db import prepared
from app.db.prepared import Prepared
from app.db.queries import Row, as_row, change_status
from app.db.tables import uploads
from app.notify.outbox import announce, record_events
from app.vocabulary import AssetStatus

# Our timestamp text (``2026-11-25T01:04:25.820737Z``) in each dialect's own words. SQLite's %f is
# seconds with milliseconds, so three zeros keep the width of PostgreSQL's microseconds.
_SQLITE_FORMAT = "%Y-%m-%dT%H:%M:%f000Z"
_POSTGRES_FORMAT = 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'


def _clock(dialect_name: str, sqlite_modifier: Any, postgres_seconds: Any) -> sa.ColumnElement[Any]:
    """The database's time plus an offset, as timestamp text; the offset in each dialect's terms."""
    if dialect_name == "sqlite":
        return sa.func.strftime(_SQLITE_FORMAT, "now", sqlite_modifier)
    utc_now: sa.ColumnElement[Any] = sa.literal_column("(now() AT TIME ZONE 'UTC')")
    ahead = sa.func.make_interval(0, 0, 0, 0, 0, 0, postgres_seconds)
    return sa.func.to_char(utc_now + ahead, _POSTGRES_FORMAT)


def database_clock(database: Database, seconds_ahead: float = 0.0) -> sa.ColumnElement[Any]:
    """The database's time, ``seconds_ahead`` from now, as timestamp text."""
    return _clock(database.url.dialect, f"{seconds_ahead:+f} seconds", sa.literal(float(seconds_ahead), sa.Float))


def _prepared_clock(dialect_name: str, leased: bool = False) -> sa.ColumnElement[Any]:
    """``database_clock`` for a prepared statement; a lease's end is now plus the ``lease_seconds``
    parameter (PostgreSQL) or the ``lease_modifier`` one (SQLite: ``+60.000000 seconds``)."""
    if not leased:
        return _clock(dialect_name, "+0.000000 seconds", sa.literal(0.0, sa.Float))
    return _clock(dialect_name, sa.bindparam("lease_modifier"), sa.bindparam("lease_seconds", type_=sa.Float))


def _held_by(upload_id: Any, attempt: Any) -> sa.ColumnElement[bool]:
    """The row as one attempt holds it: values, or bind parameters for a prepared statement."""
    return sa.and_(uploads.c.id == upload_id, uploads.c.status == AssetStatus.PROCESSING, uploads.c.attempts == attempt)


def _lease_expired(clock: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
    return sa.and_(uploads.c.status == AssetStatus.PROCESSING, uploads.c.lease_until < clock)


def _lease(seconds: float) -> dict[str, Any]:
    return {"lease_seconds": float(seconds), "lease_modifier": f"{seconds:+f} seconds"}


def _claim_statement(dialect_name: str) -> sa.Update:
    expired = _lease_expired(_prepared_clock(dialect_name))
    return (
        uploads.update()
        .where(uploads.c.id == sa.bindparam("upload_id"), sa.or_(uploads.c.status == AssetStatus.QUEUED, expired))
        .values(
            status=AssetStatus.PROCESSING,
            attempts=uploads.c.attempts + 1,
            lease_until=_prepared_clock(dialect_name, leased=True),
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
        .values(lease_until=_prepared_clock(dialect_name, leased=True))
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
    async with database.transaction():
        record = await prepared.fetch_one(
            database, _CLAIM, upload_id=upload_id, now=timestamp(), **_lease(lease_seconds)
        )
        if record is None:
            return None
        row = as_row(record)
        await record_events(database, upload_id, [("started", f"attempt {row['attempts']}")], record)
    announce(upload_id, 0)
    return row


async def renew_lease(database: Database, upload_id: str, attempt: int, lease_seconds: float) -> bool:
    """Extend the attempt's claim; False when it no longer holds the row (deleted, or taken over)."""
    values = {"upload_id": upload_id, "attempt": attempt, **_lease(lease_seconds)}
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
    while_held: Callable[[], Awaitable[None]] | None = None,
) -> bool:
    """The attempt succeeded. ``while_held`` (putting the derivatives in place) runs only if the
    attempt still holds the row, inside the change: a deleted or superseded job leaves nothing."""
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
