"""Versioned schema migrations, run at start-up.

Each migration is a list of statements written to run unchanged on SQLite and PostgreSQL. A migration
never changes once released; a change to the schema is a new entry at the end of ``MIGRATIONS``.
"""

from __future__ import annotations

from databases import Database

from app.db import is_sqlite

MIGRATIONS: list[list[str]] = [
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
]


async def migrate(database: Database) -> int:
    """Bring the schema up to date; returns the version it is at. Safe when processes race to it."""
    sqlite = is_sqlite(database)
    if sqlite:
        # WAL lets the server write while workers read; it is a property of the file, kept once set.
        await database.execute("PRAGMA journal_mode=WAL")
    async with database.transaction():
        if sqlite:
            # A write as the first statement takes SQLite's write lock, so a racing process waits.
            await database.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
            await database.execute("UPDATE schema_version SET version = version WHERE 0 = 1")
        else:
            await database.execute("SELECT pg_advisory_xact_lock(7426812)")
            await database.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        current = await database.fetch_val("SELECT MAX(version) FROM schema_version") or 0
        for version, statements in enumerate(MIGRATIONS[current:], start=current + 1):
            for statement in statements:
                await database.execute(statement)
            await database.execute("INSERT INTO schema_version (version) VALUES (:version)", {"version": version})
    return len(MIGRATIONS)
