"""Versioned schema migrations, run at start-up.

Each migration is a list of statements written to run unchanged on SQLite and PostgreSQL (or, where
they cannot, such as for an autoincrement id, a dict of one text per dialect). A migration never
changes once released; a change to the schema is a new entry at the end of ``MIGRATIONS``.
"""

from __future__ import annotations

import asyncio
import sqlite3

from databases import Database

from app.db import is_sqlite

# A statement is one SQL text for both dialects, or a dict of texts by dialect ("sqlite", "postgresql").
Statement = str | dict[str, str]

_EVENT_COLUMNS = (
    "upload_id TEXT NOT NULL, owner TEXT NOT NULL, at TEXT NOT NULL, event TEXT NOT NULL, "
    "type TEXT, status TEXT, detail TEXT, data TEXT"
)
_DELIVERY_COLUMNS = (
    "event_id BIGINT NOT NULL, upload_id TEXT NOT NULL, endpoint TEXT NOT NULL, status TEXT NOT NULL, "
    "attempts INTEGER NOT NULL DEFAULT 0, failures INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL, "
    "next_attempt_at TEXT NOT NULL, lease_until TEXT, last_status_code INTEGER, last_error TEXT, delivered_at TEXT"
)
_ATTEMPT_COLUMNS = (
    "delivery_id BIGINT NOT NULL, attempt INTEGER NOT NULL, at TEXT NOT NULL, status_code INTEGER, error TEXT, "
    "duration_ms INTEGER NOT NULL"
)

MIGRATIONS: list[list[Statement]] = [
    [
        """
        CREATE TABLE uploads (
            id TEXT PRIMARY KEY,
            owner TEXT NOT NULL,
            filename TEXT,
            declared_type TEXT,
            detected_type TEXT,
            upload_length BIGINT,
            upload_offset BIGINT NOT NULL DEFAULT 0,
            metadata TEXT NOT NULL DEFAULT '{}',
            status TEXT NOT NULL,
            error TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            width INTEGER,
            height INTEGER,
            duration_seconds DOUBLE PRECISION,
            format TEXT,
            details TEXT,
            derivatives TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            completed_at TEXT,
            queued_at TEXT,
            processed_at TEXT,
            processing_time_ms INTEGER,
            lease_until TEXT
        )
        """,
        "CREATE INDEX uploads_owner_created ON uploads (owner, created_at, id)",
        "CREATE INDEX uploads_status_created ON uploads (status, created_at, id)",
        "CREATE INDEX uploads_created ON uploads (created_at, id)",
    ],
    [
        # A short history per asset: received, queued, started, retried, ready, failed.
        "CREATE TABLE asset_events (upload_id TEXT NOT NULL, at TEXT NOT NULL, event TEXT NOT NULL, detail TEXT)",
        "CREATE INDEX asset_events_upload ON asset_events (upload_id, at)",
    ],
    [
        # Opaque API tokens: only a hash of each secret is kept.
        """
        CREATE TABLE api_tokens (
            id TEXT PRIMARY KEY,
            subject TEXT NOT NULL,
            is_admin INTEGER NOT NULL DEFAULT 0,
            secret_hash TEXT NOT NULL,
            created_at TEXT NOT NULL,
            last_used_at TEXT,
            expires_at TEXT,
            revoked_at TEXT
        )
        """,
    ],
    [
        # Events get an id that grows in commit order (the live stream's Last-Event-ID, the webhooks'
        # order), the owner (the stream and webhooks filter by it even after the asset is deleted),
        # the status after the change, the webhook type of events that have one, and a snapshot of
        # the asset (the webhook payload). Rebuilt, since SQLite cannot add an autoincrement column.
        {
            "sqlite": "CREATE TABLE asset_events_new (id INTEGER PRIMARY KEY AUTOINCREMENT, " + _EVENT_COLUMNS + ")",
            "postgresql": "CREATE TABLE asset_events_new (id BIGSERIAL PRIMARY KEY, " + _EVENT_COLUMNS + ")",
        },
        """
        INSERT INTO asset_events_new (upload_id, owner, at, event, type, status, detail)
        SELECT e.upload_id, COALESCE(u.owner, ''), e.at, e.event,
               CASE e.event WHEN 'received' THEN 'upload.finished' WHEN 'ready' THEN 'asset.ready'
                            WHEN 'failed' THEN 'asset.failed' END,
               NULL, e.detail
        FROM asset_events e LEFT JOIN uploads u ON u.id = e.upload_id
        ORDER BY e.at
        """,
        "DROP TABLE asset_events",
        "ALTER TABLE asset_events_new RENAME TO asset_events",
        "CREATE INDEX asset_events_upload_id ON asset_events (upload_id, id)",
        "CREATE INDEX asset_events_owner_id ON asset_events (owner, id)",
        # The webhook outbox: endpoints (from WEBHOOK_URLS at the server's start), one delivery per
        # endpoint and event, written with the event; every attempt at it.
        "CREATE TABLE webhook_endpoints (url TEXT PRIMARY KEY, active INTEGER NOT NULL, updated_at TEXT NOT NULL)",
        {
            "sqlite": "CREATE TABLE webhook_deliveries (id INTEGER PRIMARY KEY AUTOINCREMENT, "
            + _DELIVERY_COLUMNS
            + ")",
            "postgresql": "CREATE TABLE webhook_deliveries (id BIGSERIAL PRIMARY KEY, " + _DELIVERY_COLUMNS + ")",
        },
        "CREATE INDEX webhook_deliveries_queue ON webhook_deliveries (upload_id, endpoint, status, event_id)",
        "CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at)",
        {
            "sqlite": "CREATE TABLE webhook_attempts (id INTEGER PRIMARY KEY AUTOINCREMENT, " + _ATTEMPT_COLUMNS + ")",
            "postgresql": "CREATE TABLE webhook_attempts (id BIGSERIAL PRIMARY KEY, " + _ATTEMPT_COLUMNS + ")",
        },
        "CREATE INDEX webhook_attempts_delivery ON webhook_attempts (delivery_id, id)",
    ],
    [
        # Which attempt made the derivatives the row lists: in a bucket, each attempt's set has keys of
        # its own, and the row's change to ready is what makes one set the current one.
        "ALTER TABLE uploads ADD COLUMN derivatives_attempt INTEGER",
    ],
]


# Switching a new file to WAL needs it alone for a moment, and SQLite answers "database is locked" at
# once instead of waiting in its busy handler when another process is switching it too (a server and
# a worker started together on a fresh file): so the switch is tried again, a bounded number of times.
_WAL_ATTEMPTS = 50
_WAL_RETRY_SECONDS = 0.1


async def _use_wal(database: Database) -> None:
    """WAL lets the server write while workers read; it is a property of the file, kept once set."""
    for attempt in range(1, _WAL_ATTEMPTS + 1):
        try:
            await database.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or attempt == _WAL_ATTEMPTS:
                raise
            await asyncio.sleep(_WAL_RETRY_SECONDS)


async def migrate(database: Database) -> int:
    """Bring the schema up to date; returns the version it is at. Safe when processes race to it."""
    sqlite = is_sqlite(database)
    if sqlite:
        await _use_wal(database)
        # Before the transaction: inside it, this read would start a snapshot that a racing writer's
        # commit makes stale, and the write below would then fail at once instead of waiting.
        await database.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
    async with database.transaction():
        if sqlite:
            # A write as the first statement takes SQLite's write lock, so a racing process waits.
            await database.execute("UPDATE schema_version SET version = version WHERE 0 = 1")
        else:
            await database.execute("SELECT pg_advisory_xact_lock(7426812)")
            await database.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        current = await database.fetch_val("SELECT MAX(version) FROM schema_version") or 0
        for version, statements in enumerate(MIGRATIONS[current:], start=current + 1):
            for statement in statements:
                if isinstance(statement, dict):
                    statement = statement["sqlite" if sqlite else "postgresql"]
                await database.execute(statement)
            await database.execute("INSERT INTO schema_version (version) VALUES (:version)", {"version": version})
    return len(MIGRATIONS)
