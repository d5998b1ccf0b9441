"""Selecting assets by what an operator asks for: the listing filters, their count, and the rows a
bulk reprocess picks.

The filter is one value (``AssetFilter``) turned into one SQL condition, so a page, its ``total`` and
a bulk action can never disagree about which rows match.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from databases import Database

from app.clock import timestamp
from app.db.queries import LONG_AGO, Row, as_row
from app.db.tables import uploads
from app.vocabulary import AssetStatus

# Bound parameters per statement stay far below SQLite's limit (32766) and PostgreSQL's (65535).
_ID_BATCH = 500


@dataclass(frozen=True)
class AssetFilter:
    statuses: tuple[AssetStatus, ...] = ()
    owner: str | None = None  # None: every owner (an admin's listing)
    types: tuple[str, ...] = ()  # detected types: exact, or ``image/*``
    created_after: str | None = None  # timestamp text, inclusive
    created_before: str | None = None  # timestamp text, exclusive
    filenames: tuple[str, ...] = ()  # case-insensitive substrings, all of them
    error: str | None = None  # case-insensitive substring of the failure reason
    ids: tuple[str, ...] = field(default=())

    def condition(self) -> sa.ColumnElement[bool]:
        conditions: list[sa.ColumnElement[bool]] = []
        if self.statuses:
            conditions.append(uploads.c.status.in_([str(status) for status in self.statuses]))
        if self.owner is not None:
            conditions.append(uploads.c.owner == self.owner)
        if self.types:
            conditions.append(sa.or_(*(_type_condition(pattern) for pattern in self.types)))
        if self.created_after is not None:
            conditions.append(uploads.c.created_at >= self.created_after)
        if self.created_before is not None:
            conditions.append(uploads.c.created_at < self.created_before)
        for text in self.filenames:
            conditions.append(uploads.c.filename.ilike(f"%{_like_escaped(text)}%", escape="\\"))
        if self.error:
            conditions.append(uploads.c.error.ilike(f"%{_like_escaped(self.error)}%", escape="\\"))
        if self.ids:
            conditions.append(uploads.c.id.in_(self.ids))
        return sa.and_(sa.true(), *conditions)


def _like_escaped(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _type_condition(pattern: str) -> sa.ColumnElement[bool]:
    if pattern in ("*", "*/*"):
        return uploads.c.detected_type.is_not(None)
    if pattern.endswith("/*"):
        return uploads.c.detected_type.like(f"{_like_escaped(pattern[:-1])}%", escape="\\")
    return uploads.c.detected_type == pattern


async def list_assets(
    database: Database, selection: AssetFilter, *, before: tuple[str, str] | None, limit: int
) -> list[Row]:
    """Newest first. ``before`` is the (created_at, id) of the last row of the previous page."""
    query = uploads.select().where(selection.condition())
    if before is not None:
        created_at, upload_id = before
        query = query.where(
            sa.or_(
                uploads.c.created_at < created_at,
                sa.and_(uploads.c.created_at == created_at, uploads.c.id < upload_id),
            )
        )
    query = query.order_by(uploads.c.created_at.desc(), uploads.c.id.desc()).limit(limit)
    return [as_row(record) for record in await database.fetch_all(query)]


async def count_assets(database: Database, selection: AssetFilter) -> int:
    query = sa.select(sa.func.count()).select_from(uploads).where(selection.condition())
    return int(await database.fetch_val(query) or 0)


async def matching_ids(database: Database, selection: AssetFilter, limit: int) -> list[str]:
    """The ids of at most ``limit`` matching rows, oldest first (a bulk action's selection)."""
    query = (
        sa.select(uploads.c.id).where(selection.condition()).order_by(uploads.c.created_at, uploads.c.id).limit(limit)
    )
    return [record._mapping["id"] for record in await database.fetch_all(query)]


async def mark_sent(database: Database, upload_ids: list[str]) -> None:
    """Jobs requeued as long-queued (``queries.requeue``) whose message has just been sent: give them
    a fresh ``queued_at``, so the recovery sweep does not send them a second time. A row that moved on
    meanwhile (claimed already) is left alone."""
    now = timestamp()
    for start in range(0, len(upload_ids), _ID_BATCH):
        batch = upload_ids[start : start + _ID_BATCH]
        await database.execute(
            uploads.update()
            .where(uploads.c.id.in_(batch), uploads.c.status == AssetStatus.QUEUED, uploads.c.queued_at == LONG_AGO)
            .values(queued_at=now)
        )


async def active_uploads(database: Database, owner: str | None, limit: int) -> list[Row]:
    """Rows still ``uploading``, most recently active first."""
    query = uploads.select().where(uploads.c.status == AssetStatus.UPLOADING)
    if owner is not None:
        query = query.where(uploads.c.owner == owner)
    query = query.order_by(uploads.c.updated_at.desc(), uploads.c.id.desc()).limit(limit)
    return [as_row(record) for record in await database.fetch_all(query)]


async def count_active_uploads(database: Database, owner: str | None) -> int:
    return await count_assets(database, AssetFilter(statuses=(AssetStatus.UPLOADING,), owner=owner))
