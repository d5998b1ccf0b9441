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
    # FILTER rather than SUM(CASE ... 1 ELSE 0): PostgreSQL types the CASE's bound 1 and 0 as text.
    unfinished = sa.func.count().filter(uploads.c.status == AssetStatus.UPLOADING)
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


async def processing_time_percentiles(
    database: Database, owner: str | None, since: str, fractions: dict[str, float]
) -> tuple[int, dict[str, int | None]]:
    """How many jobs ended since ``since``, and the nearest-rank percentiles of their processing times
    (ms). The database numbers the times in order and hands back only the ranks asked for: reading
    every time into Python held the event loop for tens of milliseconds once there were a few thousand."""
    times = _owned(sa.select(uploads.c.processing_time_ms), owner).where(
        uploads.c.processed_at >= since, uploads.c.processing_time_ms.is_not(None)
    )
    count = int(await database.fetch_val(sa.select(sa.func.count()).select_from(times.subquery())) or 0)
    ranks = {name: nearest_rank(count, fraction) for name, fraction in fractions.items()}
    wanted = sorted({rank for rank in ranks.values() if rank is not None})
    by_rank: dict[int, int] = {}
    if wanted:
        rank_column = sa.func.row_number().over(order_by=uploads.c.processing_time_ms).label("rank")
        numbered = times.add_columns(rank_column).subquery()
        query = sa.select(numbered.c.rank, numbered.c.processing_time_ms).where(numbered.c.rank.in_(wanted))
        records = await database.fetch_all(query)
        by_rank = {int(record._mapping["rank"]): int(record._mapping["processing_time_ms"]) for record in records}
    return count, {name: None if rank is None else by_rank[rank] for name, rank in ranks.items()}


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


def nearest_rank(count: int, fraction: float) -> int | None:
    """The 1-based rank of the nearest-rank percentile among ``count`` sorted values; None for none."""
    if count <= 0:
        return None
    return min(max(math.ceil(fraction * count - 1e-9), 1), count)
