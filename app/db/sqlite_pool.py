"""Reusing SQLite connections under ``databases``.

``databases`` opens a new aiosqlite connection, and with it a new thread, for every task that runs
a query, and closes it when the task is done: a few milliseconds of set-up on every request. This
backend keeps released connections and hands them out again.
"""

from __future__ import annotations

from typing import Any

import aiosqlite
from databases.backends.sqlite import SQLiteBackend
from databases.core import DatabaseURL

# Connections kept open while idle; more are opened under load and closed when released.
MAX_IDLE_CONNECTIONS = 8


class ReusingSQLitePool:
    def __init__(self, url: DatabaseURL, **options: Any) -> None:
        self.path = url.database
        self.options = options
        self.opened = 0
        self._idle: list[aiosqlite.Connection] = []

    async def acquire(self) -> aiosqlite.Connection:
        if self._idle:
            return self._idle.pop()
        connection = aiosqlite.connect(database=self.path, isolation_level=None, **self.options)
        await connection.__aenter__()
        # WAL with synchronous=NORMAL cannot corrupt the database; a power cut may lose the last
        # commits, which is harmless here because the upload offset's truth is the data file's size.
        await connection.execute("PRAGMA synchronous=NORMAL")
        self.opened += 1
        return connection

    async def release(self, connection: aiosqlite.Connection) -> None:
        if connection.in_transaction:
            await connection.rollback()
        if len(self._idle) < MAX_IDLE_CONNECTIONS:
            self._idle.append(connection)
        else:
            await connection.close()

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            await connection.close()


class ReusingSQLiteBackend(SQLiteBackend):
    def __init__(self, database_url: DatabaseURL | str, **options: Any) -> None:
        super().__init__(database_url, **options)
        self._pool = ReusingSQLitePool(self._database_url, **self._options)  # type: ignore[assignment]

    async def disconnect(self) -> None:
        # Not the parent's: it only drops a reference its own pool keeps for in-memory databases.
        await self._pool.close()  # type: ignore[attr-defined]
