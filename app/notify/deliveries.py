"""The webhook outbox's queries: endpoints, claiming an asset's next delivery, attempts, the sweep.

A delivery is claimed like a media job (``app/db/jobs.py``): one conditional update takes it under a
lease and bumps ``attempts``, which is the attempt's ticket for recording how it ended. Only the head
of an (asset, endpoint) queue, its oldest pending delivery, can be claimed, so however many workers
run, an asset's events reach an endpoint in order. Times are on the database's clock.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from databases import Database

from app.clock import timestamp
from app.db.clock import database_clock
from app.db.tables import asset_events, webhook_attempts, webhook_deliveries, webhook_endpoints

PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
STATUSES = (PENDING, DELIVERED, FAILED)
REMOVED_ENDPOINT = "endpoint no longer in WEBHOOK_URLS"

Row = dict[str, Any]
_d = webhook_deliveries


async def sync_endpoints(database: Database, urls: tuple[str, ...]) -> None:
    """Make ``urls`` the endpoints new events are delivered to; pending deliveries to any other end
    ``failed``, so removing a URL from the settings stops its retries."""
    now = timestamp()
    async with database.transaction():
        for url in urls:
            await database.execute(
                "INSERT INTO webhook_endpoints (url, active, updated_at) VALUES (:url, 1, :now) "
                "ON CONFLICT (url) DO UPDATE SET active = 1, updated_at = :now",
                {"url": url, "now": now},
            )
        await database.execute(
            webhook_endpoints.update()
            .where(webhook_endpoints.c.url.not_in(urls), webhook_endpoints.c.active == 1)
            .values(active=0, updated_at=now)
        )
        await database.execute(
            _d.update()
            .where(_d.c.status == PENDING, _d.c.endpoint.not_in(urls))
            .values(status=FAILED, last_error=REMOVED_ENDPOINT, lease_until=None)
        )


async def pending_endpoints(database: Database, upload_id: str) -> list[str]:
    records = await database.fetch_all(
        sa.select(_d.c.endpoint).where(_d.c.upload_id == upload_id, _d.c.status == PENDING).distinct()
    )
    return sorted(record._mapping["endpoint"] for record in records)


def _free(database: Database) -> sa.ColumnElement[bool]:
    return sa.or_(_d.c.lease_until.is_(None), _d.c.lease_until < database_clock(database))


async def claim(database: Database, upload_id: str, endpoint: str, lease_seconds: float) -> Row | None:
    """Take the head of the asset's queue for ``endpoint`` if it is due and no attempt holds it."""
    head = (
        sa.select(sa.func.min(_d.c.event_id))
        .where(_d.c.upload_id == upload_id, _d.c.endpoint == endpoint, _d.c.status == PENDING)
        .scalar_subquery()
    )
    record = await database.fetch_one(
        _d.update()
        .where(
            _d.c.upload_id == upload_id,
            _d.c.endpoint == endpoint,
            _d.c.status == PENDING,
            _d.c.event_id == head,
            _d.c.next_attempt_at <= database_clock(database),
            _free(database),
        )
        .values(attempts=_d.c.attempts + 1, lease_until=database_clock(database, lease_seconds))
        .returning(*_d.c)
    )
    return None if record is None else dict(record._mapping)


async def event(database: Database, event_id: int) -> Row | None:
    record = await database.fetch_one(asset_events.select().where(asset_events.c.id == event_id))
    return None if record is None else dict(record._mapping)


async def record_attempt(
    database: Database,
    delivery: Row,
    *,
    status_code: int | None,
    error: str | None,
    duration_ms: int,
    retry_in_seconds: float,
    max_age_seconds: float,
) -> str | None:
    """Record the attempt and its outcome: delivered without ``error``; otherwise pending again in
    ``retry_in_seconds``, or failed when that would be past ``max_age_seconds`` since the delivery
    (re)started. Returns the delivery's new status, or None when this attempt no longer held it."""
    held = sa.and_(_d.c.id == delivery["id"], _d.c.attempts == delivery["attempts"], _d.c.status == PENDING)
    values: dict[str, Any] = {"last_status_code": status_code, "last_error": error, "lease_until": None}
    if error is None:
        values.update(status=DELIVERED, delivered_at=timestamp())
    else:
        too_old = _d.c.created_at < database_clock(database, retry_in_seconds - max_age_seconds)
        values.update(
            status=sa.case((too_old, FAILED), else_=PENDING),
            failures=_d.c.failures + 1,
            next_attempt_at=database_clock(database, retry_in_seconds),
        )
    async with database.transaction():
        await database.execute(
            webhook_attempts.insert().values(
                delivery_id=delivery["id"],
                attempt=delivery["attempts"],
                at=timestamp(),
                status_code=status_code,
                error=error,
                duration_ms=duration_ms,
            )
        )
        status = await database.fetch_val(_d.update().where(held).values(**values).returning(_d.c.status))
    return status


async def due_upload_ids(database: Database, overdue_seconds: float) -> list[str]:
    """Assets with a delivery due for ``overdue_seconds`` that no attempt holds: their message may be
    lost (a killed worker, a broker restart). Marks them due now, so the next sweep waits again."""
    records = await database.fetch_all(
        _d.update()
        .where(
            _d.c.status == PENDING,
            _d.c.next_attempt_at < database_clock(database, -overdue_seconds),
            _free(database),
        )
        .values(next_attempt_at=database_clock(database))
        .returning(_d.c.upload_id)
    )
    return sorted({record._mapping["upload_id"] for record in records})


async def list_deliveries(
    database: Database, *, status: str | None, upload_id: str | None, before_id: int | None, limit: int
) -> list[Row]:
    """Newest first, each with its event's type and its attempts (oldest first)."""
    query = sa.select(*_d.c, asset_events.c.type, asset_events.c.event).join(
        asset_events, asset_events.c.id == _d.c.event_id
    )
    if status is not None:
        query = query.where(_d.c.status == status)
    if upload_id is not None:
        query = query.where(_d.c.upload_id == upload_id)
    if before_id is not None:
        query = query.where(_d.c.id < before_id)
    rows = [dict(record._mapping) for record in await database.fetch_all(query.order_by(_d.c.id.desc()).limit(limit))]
    attempts: dict[int, list[Row]] = {row["id"]: [] for row in rows}
    if rows:
        records = await database.fetch_all(
            webhook_attempts.select()
            .where(webhook_attempts.c.delivery_id.in_(list(attempts)))
            .order_by(webhook_attempts.c.id)
        )
        for record in records:
            attempt = dict(record._mapping)
            attempts[attempt.pop("delivery_id")].append(attempt)
    return [{**row, "attempts_made": attempts[row["id"]]} for row in rows]


async def redeliver(database: Database, delivery_id: int) -> Row | None:
    """Send a delivery again, whatever became of it, with a fresh retry window; None when there is no
    such delivery or an attempt holds it right now."""
    record = await database.fetch_one(
        _d.update()
        .where(_d.c.id == delivery_id, sa.or_(_d.c.status != PENDING, _free(database)))
        .values(
            status=PENDING,
            failures=0,
            created_at=database_clock(database),
            next_attempt_at=database_clock(database),
            lease_until=None,
            delivered_at=None,
        )
        .returning(*_d.c)
    )
    return None if record is None else dict(record._mapping)


async def delivery_exists(database: Database, delivery_id: int) -> bool:
    return await database.fetch_val(sa.select(sa.func.count()).where(_d.c.id == delivery_id)) > 0


# How long past due a delivery no attempt holds may stay before the sweep assumes its message lost.
OVERDUE_SECONDS = 10.0


async def resend_due(database: Database, send: Any) -> int:
    """The recovery sweep's part: send the actor again for every asset with an overdue delivery."""
    upload_ids = await due_upload_ids(database, OVERDUE_SECONDS)
    for upload_id in upload_ids:
        await send(upload_id)
    return len(upload_ids)
