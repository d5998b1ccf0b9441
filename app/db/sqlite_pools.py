"""Connections to one SQLite file, kept for reuse: a pool that tasks check connections out of (for
``databases``' transactions), and a few shared connections that any task queues work on."""

from __future__ import annotations

import asyncio
from typing import Any

import aiosqlite
from databases.core import DatabaseURL

from app.db.sqlite_threads import abandon, writer_gate

# Connections kept open while idle; more are opened under load and closed when released.
MAX_IDLE_CONNECTIONS = 8
# Connections that tasks outside a transaction share (each one is a thread): reads run side by side
# on them, writes queue at the writer gate whichever they are on.
SHARED_CONNECTIONS = 4
DEFAULT_BUSY_TIMEOUT_SECONDS = 5.0


class ReusingSQLitePool:
    def __init__(self, url: DatabaseURL, **options: Any) -> None:
        self.path = url.database
        self.options = options
        self.gate = writer_gate(str(self.path), float(options.get("timeout", DEFAULT_BUSY_TIMEOUT_SECONDS)))
        self.opened = 0
        self._idle: list[aiosqlite.Connection] = []

    async def acquire(self) -> aiosqlite.Connection:
        if self._idle:
            return self._idle.pop()
        return await self.open()

    async def open(self) -> aiosqlite.Connection:
        connection = aiosqlite.connect(database=self.path, isolation_level=None, **self.options)
        await connection.__aenter__()
        # WAL with synchronous=NORMAL cannot corrupt the database; a power cut may lose the last
        # commits, which is harmless here because the upload offset's truth is the data file's size.
        await connection.execute("PRAGMA synchronous=NORMAL")
        self.opened += 1
        return connection

    async def release(self, connection: aiosqlite.Connection) -> None:
        # Asked in the connection's thread, after whatever it still has queued (a BEGIN whose caller
        # was cancelled while it waited for the gate) has run.
        await connection._execute(abandon, connection._conn, self.gate)
        if len(self._idle) < MAX_IDLE_CONNECTIONS:
            self._idle.append(connection)
        else:
            await connection.close()

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            await connection.close()


class SharedConnections:
    """A few connections that any number of tasks send work to at once, for work that ends whatever
    transaction it begins inside its own hand-off: a call is one job on a connection's queue, and
    its thread runs the jobs in order, so callers need not take a connection for themselves. Each
    call goes to the connection with the least work waiting; one more is opened (up to ``size``)
    only while all are busy."""

    def __init__(self, pool: ReusingSQLitePool, size: int) -> None:
        self.pool = pool
        self.size = size
        self.connections: list[aiosqlite.Connection] = []
        self._waiting: list[int] = []
        self._opening = asyncio.Lock()

    async def run(self, function: Any, *args: Any) -> Any:
        index = self._usable()
        if index is None:
            index = await self._open_one()
        connection = self.connections[index]
        self._waiting[index] += 1
        try:
            return await connection._execute(function, connection._conn, *args)
        finally:
            # A cancelled caller's job may still run; it ends its own transaction, like any other.
            self._waiting[index] -= 1

    def _usable(self) -> int | None:
        """The least busy connection; None while there is none, or all are busy and one more may open."""
        if not self.connections:
            return None
        index = min(range(len(self._waiting)), key=self._waiting.__getitem__)
        if self._waiting[index] and len(self.connections) < self.size:
            return None
        return index

    async def _open_one(self) -> int:
        async with self._opening:
            index = self._usable()
            if index is not None:
                return index  # another caller opened one while this one waited
            self.connections.append(await self.pool.open())
            self._waiting.append(0)
            return len(self.connections) - 1

    async def close(self) -> None:
        connections, self.connections, self._waiting = self.connections, [], []
        for connection in connections:
            await connection.close()
