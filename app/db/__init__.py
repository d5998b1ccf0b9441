"""The database: one ``uploads`` table holding each upload's lifecycle and its asset."""

from __future__ import annotations

from databases import Database

# SQLite waits this long for another connection's write lock instead of failing at once.
SQLITE_BUSY_TIMEOUT_SECONDS = 30


def connect_url(database_url: str) -> str:
    """The URL ``databases`` needs: SQLite goes through aiosqlite, PostgreSQL through asyncpg."""
    if database_url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + database_url.removeprefix("sqlite:///")
    if database_url.startswith(("postgresql://", "postgres://")):
        return "postgresql+asyncpg://" + database_url.split("://", 1)[1]
    return database_url


class _PooledDatabase(Database):
    # SQLite through a backend that reuses connections (see sqlite_backend); both compile each statement
    # shape once (see statement_cache).
    SUPPORTED_BACKENDS = {  # noqa: RUF012 - databases declares it as a plain class attribute
        **Database.SUPPORTED_BACKENDS,
        "sqlite+aiosqlite": "app.db.sqlite_backend:ReusingSQLiteBackend",
        "postgresql+asyncpg": "app.db.postgres_backend:CachingPostgresBackend",
    }


def open_database(database_url: str, sqlite_busy_timeout_seconds: float = SQLITE_BUSY_TIMEOUT_SECONDS) -> Database:
    url = connect_url(database_url)
    if url.startswith("sqlite"):
        return _PooledDatabase(url, timeout=sqlite_busy_timeout_seconds)
    return _PooledDatabase(url)


def is_sqlite(database: Database) -> bool:
    return database.url.dialect == "sqlite"


__all__ = ["connect_url", "is_sqlite", "open_database"]
