"""Transactions written as one plain function, so that SQLite can run each in a single hand-off.

A transaction written as async code (``async with database.transaction(): await ...``) costs the
event loop one round trip to the connection's thread per statement, and holds SQLite's one write lock
across all of them: while the loop is busy with other requests, the lock waits for it between every
statement. Measured under 16 concurrent uploads, each write transaction held the lock for 2.5 ms on
average, almost all of it waiting for the loop, which capped the server at about 160 uploads a second.

A *script* is a plain function ``script(statements, *args)`` that runs prepared statements through
``statements`` and decides between them in Python. On SQLite, ``run_atomically`` sends the whole
script to the connection's thread at once: ``BEGIN IMMEDIATE``, the statements, ``COMMIT``, with the
lock held for the time SQLite needs and no longer. On PostgreSQL the same script runs on the event
loop inside an ordinary transaction, each statement awaited through a greenlet (SQLAlchemy's own
bridge between plain and async code), so the hot path is written once for both databases.

A script must not touch the event loop or anything of asyncio's: on SQLite it runs in another thread.
Its effects beyond the database (telling listeners, sending a job) belong after ``run_atomically``
returns, when the transaction has committed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from databases import Database
from sqlalchemy.util import await_only, greenlet_spawn

from app.db import prepared
from app.db.prepared import Prepared, Row, direct_runner

T = TypeVar("T")


class Statements:
    """What a script may do: run prepared statements in its transaction and read their rows."""

    dialect_name: str

    def fetch_all(self, statement: Prepared, **values: Any) -> list[Row]:
        raise NotImplementedError

    def fetch_one(self, statement: Prepared, **values: Any) -> Row | None:
        rows = self.fetch_all(statement, **values)
        return rows[0] if rows else None

    def fetch_value(self, statement: Prepared, **values: Any) -> Any:
        row = self.fetch_one(statement, **values)
        return None if row is None else next(iter(row.values()))


Script = Callable[..., T]


class AwaitingStatements(Statements):
    """Each statement awaited on the event loop, from inside a greenlet: for any backend."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.dialect_name = database.url.dialect

    def fetch_all(self, statement: Prepared, **values: Any) -> list[Row]:
        rows: list[Row] = await_only(prepared.fetch_all(self.database, statement, **values))
        return rows


async def run_atomically(database: Database, script: Script[T], *args: Any) -> T:
    """``script(statements, *args)`` in one transaction: all its writes commit, or none (it raised)."""
    direct = direct_runner(database)
    if direct is not None:
        result: T = await direct.run_script(script, args)
        return result
    connection = database.connection()
    async with connection:
        backend_connection = connection._connection
        if hasattr(backend_connection, "run_script"):
            return await backend_connection.run_script(script, args)  # type: ignore[no-any-return]
        async with database.transaction():
            return await greenlet_spawn(script, AwaitingStatements(database), *args)


async def run_in_transaction(database: Database, script: Script[T], *args: Any) -> T:
    """``script`` as part of the transaction the task has open, statement by statement: for code that
    must await between its statements and so cannot be one script."""
    return await greenlet_spawn(script, AwaitingStatements(database), *args)
