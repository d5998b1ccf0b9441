"""Writing events: the history row, its webhook deliveries, and the word after commit.

``record_events`` runs inside the transaction of the change it records, so the event, the status and
the deliveries commit together or not at all. ``announce`` runs after the commit and tells this
process's listeners (send the webhook actor, nudge the live streams); a nudge that is lost costs only
latency, since the stream polls and the recovery sweep re-sends due deliveries.

Event ids grow in commit order, which is what lets a stream resume at ``Last-Event-ID`` and a
webhook queue keep an asset's order: SQLite has one writer at a time, and on PostgreSQL every event
writer takes one transaction-scoped advisory lock before it draws its ids.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa

from app.clock import timestamp
from app.db import prepared
from app.db.atomic import Statements
from app.db.clock import prepared_clock
from app.db.tables import asset_events, uploads, webhook_deliveries, webhook_endpoints

log = logging.getLogger(__name__)

# History events that are also webhooks. The others (queued, started, retried) are history and stream only.
WEBHOOK_TYPES = {
    "created": "upload.created",
    "received": "upload.finished",
    "ready": "asset.ready",
    "failed": "asset.failed",
    "deleted": "asset.deleted",
}
DELETED = "deleted"

# What a webhook and a stream event say about the asset, as the event left it.
_SNAPSHOT_COLUMNS = (
    "id",
    "owner",
    "status",
    "filename",
    "declared_type",
    "detected_type",
    "upload_length",
    "width",
    "height",
    "duration_seconds",
    "format",
    "error",
    "attempts",
    "created_at",
    "completed_at",
    "processed_at",
)
_EVENT_ID_LOCK = 7426813  # pg_advisory_xact_lock key; migrations use 7426812

# Called after an event commits, with the asset's id and how many webhook deliveries it queued.
Listener = Callable[[str, int], None]
_listeners: list[Listener] = []


# Every change of every asset runs these.
_READ_ROW = prepared.Prepared(uploads.select().where(uploads.c.id == sa.bindparam("upload_id")))
_INSERT_EVENT = prepared.Prepared(
    asset_events.insert()
    .values(
        {name: sa.bindparam(name) for name in ("upload_id", "owner", "at", "event", "type", "status", "detail", "data")}
    )
    .returning(asset_events.c.id)
)
_ACTIVE_ENDPOINTS = prepared.Prepared(sa.select(webhook_endpoints.c.url).where(webhook_endpoints.c.active == 1))
_EVENT_ID_ORDER = prepared.Prepared(sa.text(f"SELECT pg_advisory_xact_lock({_EVENT_ID_LOCK})"))
_INSERT_DELIVERY = prepared.Prepared(
    lambda dialect_name: webhook_deliveries.insert().values(
        event_id=sa.bindparam("event_id"),
        upload_id=sa.bindparam("upload_id"),
        endpoint=sa.bindparam("endpoint"),
        status="pending",
        attempts=0,
        failures=0,
        created_at=prepared_clock(dialect_name),
        next_attempt_at=prepared_clock(dialect_name),
    )
)


def snapshot(row: dict[str, Any], status: str | None = None) -> dict[str, Any]:
    data = {column: row.get(column) for column in _SNAPSHOT_COLUMNS}
    metadata = row.get("metadata")
    data["metadata"] = json.loads(metadata) if isinstance(metadata, str) else (metadata or {})
    if status is not None:
        data["status"] = status
    return data


def record_events(
    statements: Statements,
    upload_id: str,
    events: list[tuple[str, str | None]],
    row: dict[str, Any] | None = None,
    status: str | None = None,
) -> int:
    """Write ``events`` (name, detail) for the asset and a delivery per active webhook endpoint for
    each that is a webhook, in the caller's transaction (a script's part: see ``app.db.atomic``).
    ``row`` is the asset as the change left it (read here when None); ``status`` overrides its status
    (``deleted``). Returns the deliveries queued."""
    if row is None:
        row = statements.fetch_one(_READ_ROW, upload_id=upload_id)
        if row is None:
            return 0
    data = snapshot(row, status)
    if statements.dialect_name != "sqlite":
        # Held to the commit: ids are drawn, and become visible, in one order.
        statements.fetch_all(_EVENT_ID_ORDER)
    now = timestamp()
    endpoints: list[str] | None = None
    queued = 0
    for event, detail in events:
        webhook_type = WEBHOOK_TYPES.get(event)
        event_id = statements.fetch_value(
            _INSERT_EVENT,
            upload_id=upload_id,
            owner=row["owner"],
            at=now,
            event=event,
            type=webhook_type,
            status=str(data["status"]),
            detail=detail,
            data=json.dumps(data),
        )
        if webhook_type is None:
            continue
        if endpoints is None:
            endpoints = [record["url"] for record in statements.fetch_all(_ACTIVE_ENDPOINTS)]
        for endpoint in endpoints:
            statements.fetch_all(_INSERT_DELIVERY, event_id=event_id, upload_id=upload_id, endpoint=endpoint)
            queued += 1
    return queued


def listen(listener: Listener) -> Callable[[], None]:
    """Call ``listener`` after every event this process commits; returns the way to stop."""
    _listeners.append(listener)
    return lambda: _listeners.remove(listener) if listener in _listeners else None


def announce(upload_id: str, deliveries: int) -> None:
    """After the commit: tell the listeners. Never raises; a listener must not block."""
    for listener in list(_listeners):
        try:
            listener(upload_id, deliveries)
        except Exception:
            log.exception("an event listener failed for %s; the stream's polling and the sweep catch up", upload_id)
