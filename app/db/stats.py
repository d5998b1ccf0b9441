"""Aggregates over the ``uploads`` table: what the stats endpoint shows and what quotas count.

Every function takes ``owner``: None counts every row (an admin), a name counts only that user's, so
a user's numbers never include anyone else's rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from databases import Database

from app.db.queries import LONG_AGO
from app.db.tables import uploads
from app.vocabulary import AssetStatus

# What a row holds on disk, and what it may still grow to: its declared length once known.
_STORED = sa.func.coalesce(sa.func.sum(uploads.c.upload_offset), 0)
_RESERVED = sa.func.coalesce(sa.func.sum(sa.func.coalesce(uploads.c.upload_length, uploads.c.upload_offset)), 0)


def _owned(query: sa.Select[Any], owner: str | None) -> sa.Select[Any]:
    return query if owner is None else query.where(uploads.c.owner == owner)


@dataclass(frozen=True)
class Usage:
    bytes_stored: int
    bytes_reserved: int
    uploads: int
    unfinished_uploads: int


async def usage(database: Database, owner: str) -> Usage:
    """One user's rows: bytes on disk, bytes reserved (unfinished uploads count their declared length),
    how many uploads, and how many of them are unfinished."""
    unfinished = sa.func.coalesce(sa.func.sum(sa.case((uploads.c.status == AssetStatus.UPLOADING, 1), else_=0)), 0)
    query = sa.select(_STORED, _RESERVED, sa.func.count(), unfinished).where(uploads.c.owner == owner)
    record = await database.fetch_one(query)
    assert record is not None  # an aggregate always answers one row
    stored, reserved, count, open_uploads = tuple(record._mapping.values())
    return Usage(int(stored), int(reserved), int(count), int(open_uploads))


async def by_status(database: Database, owner: str | None) -> dict[str, dict[str, int]]:
    query = _owned(sa.select(uploads.c.status, sa.func.count(), _STORED), owner).group_by(uploads.c.status)
    counted = {status: {"count": 0, "bytes": 0} for status in AssetStatus}
    for record in await database.fetch_all(query):
        status, count, stored = tuple(record._mapping.values())
        counted[status] = {"count": int(count), "bytes": int(stored)}
    return {str(status): value for status, value in counted.items()}


async def by_owner(database: Database, limit: int) -> list[dict[str, Any]]:
    """Every owner's count and bytes, most bytes first (admins only: it names users)."""
    query = (
        sa.select(uploads.c.owner, sa.func.count(), _STORED.label("stored"))
        .group_by(uploads.c.owner)
        .order_by(sa.desc("stored"), uploads.c.owner)
        .limit(limit)
    )
    return [
        {"owner": owner, "count": int(count), "bytes": int(stored)}
        for owner, count, stored in (tuple(record._mapping.values()) for record in await database.fetch_all(query))
    ]


async def oldest_queued_at(database: Database, owner: str | None) -> str | None:
    """When the longest-waiting queued job was queued (``queued_at``; a reprocess marks rows long
    queued until their message is sent, so those count from ``updated_at``)."""
    since = sa.case((uploads.c.queued_at == LONG_AGO, uploads.c.updated_at), else_=uploads.c.queued_at)
    query = _owned(sa.select(sa.func.min(since)), owner).where(uploads.c.status == AssetStatus.QUEUED)
    value = await database.fetch_val(query)
    return None if value is None else str(value)


async def processing_times(database: Database, owner: str | None, since: str) -> list[int]:
    """Processing times (ms) of the jobs that ended since ``since``, sorted."""
    query = _owned(sa.select(uploads.c.processing_time_ms), owner).where(
        uploads.c.processed_at >= since, uploads.c.processing_time_ms.is_not(None)
    )
    return sorted(int(record._mapping["processing_time_ms"]) for record in await database.fetch_all(query))


async def failures_by_reason(database: Database, owner: str | None, limit: int) -> list[dict[str, Any]]:
    count = sa.func.count().label("n")
    query = (
        _owned(sa.select(uploads.c.error, count), owner)
        .where(uploads.c.status == AssetStatus.FAILED)
        .group_by(uploads.c.error)
        .order_by(sa.desc("n"), uploads.c.error)
        .limit(limit)
    )
    return [
        {"reason": reason or "", "count": int(n)}
        for reason, n in (tuple(record._mapping.values()) for record in await database.fetch_all(query))
    ]


def percentile(sorted_values: list[int], fraction: float) -> int | None:
    """Nearest-rank percentile of sorted values; None for none."""
    if not sorted_values:
        return None
    rank = math.ceil(fraction * len(sorted_values) - 1e-9)
    return sorted_values[min(max(rank, 1), len(sorted_values)) - 1]
