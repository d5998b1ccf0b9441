"""What runs in a SQLite connection's own thread: the writer gate, one statement with its rows, a
transaction's ends, and a whole script (``app.db.atomic``). The event loop never runs any of it."""

from __future__ import annotations

import sqlite3
import threading
import typing
from typing import Any

from sqlalchemy.engine.interfaces import Dialect

from app.db.atomic import Script, Statements
from app.db.prepared import Prepared


class WriterGate:
    """One writer at a time among this process's connections to one database file."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._lock = threading.Lock()
        # The connection inside, so that one given back mid-transaction (its task cancelled while
        # it waited here) can be told apart and its gate released with its rollback.
        self.holder: sqlite3.Connection | None = None

    def enter(self, connection: sqlite3.Connection) -> None:
        if not self._lock.acquire(timeout=self.timeout):
            raise sqlite3.OperationalError("database is locked: another writer in this process held it too long")
        self.holder = connection

    def leave(self) -> None:
        self.holder = None
        self._lock.release()


_gates: dict[str, WriterGate] = {}
_gates_lock = threading.Lock()


def writer_gate(path: str, timeout: float) -> WriterGate:
    with _gates_lock:
        return _gates.setdefault(path, WriterGate(timeout))


class Outcome(typing.NamedTuple):
    rows: list[Any]
    description: Any
    lastrowid: int | None
    rowcount: int


def run_statement(connection: sqlite3.Connection, sql: str, args: list[Any], gate: WriterGate | None) -> Outcome:
    """In the connection's thread: the statement, all its rows, and the gate around both if given.
    Fetching inside matters: a write with RETURNING holds SQLite's lock until its rows are read."""
    if gate is not None:
        gate.enter(connection)
    try:
        cursor = connection.execute(sql, args)
        try:
            return Outcome(cursor.fetchall(), cursor.description, cursor.lastrowid, cursor.rowcount)
        finally:
            cursor.close()
    finally:
        if gate is not None:
            gate.leave()


def begin(connection: sqlite3.Connection, gate: WriterGate) -> None:
    gate.enter(connection)
    try:
        # IMMEDIATE takes the write lock now: a deferred BEGIN that later writes can fail at once
        # (SQLITE_BUSY_SNAPSHOT) when another process committed in between.
        connection.execute("BEGIN IMMEDIATE").close()
    except BaseException:
        gate.leave()
        raise


def end(connection: sqlite3.Connection, gate: WriterGate, statement: str) -> None:
    try:
        connection.execute(statement).close()
    finally:
        if gate.holder is connection:
            gate.leave()


class ThreadStatements(Statements):
    """A script's statements, run directly on the connection in its own thread."""

    def __init__(self, connection: sqlite3.Connection, dialect: Dialect) -> None:
        self.connection = connection
        self.dialect = dialect
        self.dialect_name = dialect.name

    def fetch_all(self, statement: Prepared, **values: Any) -> list[dict[str, Any]]:
        text = statement.text_for(self.dialect, numbered=False)
        cursor = self.connection.execute(text.sql, statement.arguments(text, values))
        try:
            return as_dicts(cursor.description, cursor.fetchall())
        finally:
            cursor.close()


def as_dicts(description: Any, rows: list[Any]) -> list[dict[str, Any]]:
    """Rows keyed by their column names; none for a statement that returns no rows."""
    if not description:
        return []
    columns = [column[0] for column in description]
    return [dict(zip(columns, row, strict=True)) for row in rows]


def script_atomically(
    connection: sqlite3.Connection,
    gate: WriterGate,
    dialect: Dialect,
    script: Script[Any],
    args: tuple[Any, ...],
    abandoned: threading.Event,
) -> Any:
    """In the connection's thread: the whole script between ``BEGIN IMMEDIATE`` and ``COMMIT``,
    unless its caller gave up while it waited (for the gate, or behind another hand-off): then
    nothing, for nobody is waiting for the answer."""
    begin(connection, gate)
    if abandoned.is_set():
        end(connection, gate, "ROLLBACK")
        return None
    try:
        result = script(ThreadStatements(connection, dialect), *args)
    except BaseException:
        end(connection, gate, "ROLLBACK")
        raise
    end(connection, gate, "COMMIT")
    return result


def script_in_savepoint(
    connection: sqlite3.Connection,
    dialect: Dialect,
    script: Script[Any],
    args: tuple[Any, ...],
    abandoned: threading.Event,
) -> Any:
    """In the connection's thread, inside the transaction it has open: the script, undone alone if it raises."""
    if abandoned.is_set():
        return None
    connection.execute("SAVEPOINT tusmedia_script").close()
    try:
        result = script(ThreadStatements(connection, dialect), *args)
    except BaseException:
        connection.execute("ROLLBACK TO SAVEPOINT tusmedia_script").close()
        connection.execute("RELEASE SAVEPOINT tusmedia_script").close()
        raise
    connection.execute("RELEASE SAVEPOINT tusmedia_script").close()
    return result


def abandon(connection: sqlite3.Connection, gate: WriterGate) -> None:
    """A transaction nobody will finish: roll it back, and open the gate if it held it."""
    if connection.in_transaction:
        end(connection, gate, "ROLLBACK")
