"""The SQLite backend under ``databases``, made for a server with many small concurrent writers.

What ``databases``' own SQLite backend does, and what this one does instead:

* It opens a new aiosqlite connection, and with it a thread, for every task that runs a query, and
  closes it when the task ends: milliseconds per request. Here released connections are kept.
* It compiles every statement afresh; here each statement shape is compiled once (``statement_cache``).
* It spends three thread hand-offs per statement (execute, fetch, close) and two per ``BEGIN`` or
  ``COMMIT``; here each is one: the statement runs and its rows are fetched in the connection's thread.
* Concurrent writers fight over SQLite's write lock, and a loser sleeps in SQLite's busy handler in
  growing steps (1, 2, 5, 10 ... 100 ms): with a dozen uploads at once, p99s of seconds. Here writers
  in one process queue at a gate (a lock, taken in the connection's own thread, never on the event
  loop) and each is let in the moment the one before commits. A transaction takes the gate at its
  ``BEGIN IMMEDIATE`` and gives it back at ``COMMIT`` or ``ROLLBACK``; a write outside a transaction
  takes it for that one statement. Writers in other processes (a ``tusmedia worker``, the CLI) still
  meet SQLite's own busy timeout, which the gate's wait is bounded by too.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import typing
from typing import Any

import aiosqlite
from databases.backends.common.records import Record, Row, create_column_maps
from databases.backends.sqlite import CompilationContext, SQLiteBackend, SQLiteConnection
from databases.core import DatabaseURL
from databases.interfaces import TransactionBackend
from sqlalchemy.engine.cursor import CursorResultMetaData
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.ddl import DDLElement

from app.db.atomic import Script, Statements
from app.db.prepared import Prepared
from app.db.statement_cache import StatementCache, sqlite_arguments

# Connections kept open while idle; more are opened under load and closed when released.
MAX_IDLE_CONNECTIONS = 8
# Connections that tasks outside a transaction share (each one is a thread): reads run side by side
# on them, writes queue at the writer gate whichever they are on.
SHARED_CONNECTIONS = 4
DEFAULT_BUSY_TIMEOUT_SECONDS = 5.0


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


def _run(connection: sqlite3.Connection, sql: str, args: list[Any], gate: WriterGate | None) -> Outcome:
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


def _begin(connection: sqlite3.Connection, gate: WriterGate) -> None:
    gate.enter(connection)
    try:
        # IMMEDIATE takes the write lock now: a deferred BEGIN that later writes can fail at once
        # (SQLITE_BUSY_SNAPSHOT) when another process committed in between.
        connection.execute("BEGIN IMMEDIATE").close()
    except BaseException:
        gate.leave()
        raise


def _end(connection: sqlite3.Connection, gate: WriterGate, statement: str) -> None:
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
            return _as_dicts(cursor.description, cursor.fetchall())
        finally:
            cursor.close()


def _as_dicts(description: Any, rows: list[Any]) -> list[dict[str, Any]]:
    """Rows keyed by their column names; none for a statement that returns no rows."""
    if not description:
        return []
    columns = [column[0] for column in description]
    return [dict(zip(columns, row, strict=True)) for row in rows]


def _script_atomically(
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
    _begin(connection, gate)
    if abandoned.is_set():
        _end(connection, gate, "ROLLBACK")
        return None
    try:
        result = script(ThreadStatements(connection, dialect), *args)
    except BaseException:
        _end(connection, gate, "ROLLBACK")
        raise
    _end(connection, gate, "COMMIT")
    return result


def _script_in_savepoint(
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


def _abandon(connection: sqlite3.Connection, gate: WriterGate) -> None:
    """A transaction nobody will finish: roll it back, and open the gate if it held it."""
    if connection.in_transaction:
        _end(connection, gate, "ROLLBACK")


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
        await connection._execute(_abandon, connection._conn, self.gate)
        if len(self._idle) < MAX_IDLE_CONNECTIONS:
            self._idle.append(connection)
        else:
            await connection.close()

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            await connection.close()


class GatedSQLiteConnection(SQLiteConnection):
    def __init__(self, pool: ReusingSQLitePool, dialect: Dialect, statements: StatementCache) -> None:
        super().__init__(pool, dialect)  # type: ignore[arg-type]
        self._statements = statements
        self.gate = pool.gate
        self.holds_gate = False

    async def _run(self, query: ClauseElement) -> tuple[Outcome, Any, CompilationContext]:
        assert self._connection is not None, "Connection is not acquired"
        statement, params = self._statements.compile(query)
        compiled = statement.compiled
        context: Any = self._dialect.execution_ctx_cls()
        context.dialect = self._dialect
        if isinstance(query, DDLElement):
            args: list[Any] = []
            result_columns = None
        else:
            args = sqlite_arguments(statement, params)
            result_columns = compiled._result_columns
            context.result_column_struct = (
                result_columns,
                compiled._ordered_columns,
                compiled._textual_ordered_columns,
                compiled._ad_hoc_textual,
                compiled._loose_column_name_matching,
            )
        writes = bool(getattr(compiled, "isinsert", False) or compiled.isupdate or compiled.isdelete)
        gate = self._gate_for(writes)
        outcome = await self._connection._execute(_run, self._connection._conn, compiled.string, args, gate)
        return outcome, result_columns, CompilationContext(context)

    def _gate_for(self, writes: bool) -> WriterGate | None:
        """The gate a statement must pass on its own: a write's, unless its transaction holds it already."""
        return self.gate if writes and not self.holds_gate else None

    def _records(self, outcome: Outcome, result_columns: Any, context: CompilationContext) -> list[Record]:
        column_maps = create_column_maps(result_columns)
        metadata = CursorResultMetaData(context, outcome.description)  # type: ignore[arg-type]
        keymap: Any = metadata._keymap
        rows = (Row(metadata, metadata._processors, keymap, row) for row in outcome.rows)
        return [Record(row, result_columns, self._dialect, column_maps) for row in rows]

    async def fetch_all(self, query: ClauseElement) -> list[Record]:  # type: ignore[override]
        outcome, result_columns, context = await self._run(query)
        return self._records(outcome, result_columns, context) if outcome.description else []

    async def fetch_one(self, query: ClauseElement) -> Record | None:  # type: ignore[override]
        outcome, result_columns, context = await self._run(query)
        if not outcome.rows:
            return None
        return self._records(outcome._replace(rows=outcome.rows[:1]), result_columns, context)[0]

    async def execute(self, query: ClauseElement) -> Any:
        outcome, _, _ = await self._run(query)
        return outcome.rowcount if outcome.lastrowid == 0 else outcome.lastrowid

    async def run_prepared(self, prepared: Prepared, values: dict[str, Any]) -> list[dict[str, Any]]:
        assert self._connection is not None, "Connection is not acquired"
        text = prepared.text_for(self._dialect, numbered=False)
        gate = self._gate_for(text.writes)
        args = prepared.arguments(text, values)
        outcome = await self._connection._execute(_run, self._connection._conn, text.sql, args, gate)
        return _as_dicts(outcome.description, outcome.rows)

    async def run_script(self, script: Script[Any], args: tuple[Any, ...]) -> Any:
        """The whole script in one hand-off to the connection's thread (see ``app.db.atomic``)."""
        raw = self._connection
        assert raw is not None, "Connection is not acquired"
        # A cancelled caller stops waiting at once, but the hand-off still runs in the thread: there it
        # finds this set and writes nothing. Only a script already running when the caller gave up commits.
        abandoned = threading.Event()
        try:
            if self.holds_gate:
                return await raw._execute(_script_in_savepoint, raw._conn, self._dialect, script, args, abandoned)
            return await raw._execute(_script_atomically, raw._conn, self.gate, self._dialect, script, args, abandoned)
        except asyncio.CancelledError:
            abandoned.set()
            raise

    def transaction(self) -> TransactionBackend:
        return GatedSQLiteTransaction(self)


class GatedSQLiteTransaction(TransactionBackend):
    def __init__(self, connection: GatedSQLiteConnection) -> None:
        self._connection = connection
        self._is_root = False
        self._savepoint = ""

    async def start(self, is_root: bool, extra_options: dict[Any, Any]) -> None:
        self._is_root = is_root and not self._connection.holds_gate
        if self._is_root:
            try:
                await self._in_thread(_begin, self._connection.gate)
            except asyncio.CancelledError:
                # Cancelled while waiting at the gate: the BEGIN still runs in the connection's
                # thread, and databases will neither end the transaction nor give the connection
                # back (it releases only after a start that succeeded). Both happen here instead;
                # the cancelled task cannot use this connection again.
                await asyncio.shield(self._connection.release())
                raise
            self._connection.holds_gate = True
        else:
            self._savepoint = f"tusmedia_savepoint_{id(self):x}"
            await self._statement(f"SAVEPOINT {self._savepoint}")

    async def commit(self) -> None:
        if self._is_root:
            await self._finish("COMMIT")
        else:
            await self._statement(f"RELEASE SAVEPOINT {self._savepoint}")

    async def rollback(self) -> None:
        if self._is_root:
            await self._finish("ROLLBACK")
        else:
            await self._statement(f"ROLLBACK TO SAVEPOINT {self._savepoint}")

    async def _finish(self, statement: str) -> None:
        try:
            await self._in_thread(_end, self._connection.gate, statement)
        finally:
            self._connection.holds_gate = False

    async def _statement(self, sql: str) -> None:
        await self._in_thread(_run, sql, [], None)

    async def _in_thread(self, function: Any, *args: Any) -> Any:
        raw = self._connection._connection
        assert raw is not None, "Connection is not acquired"
        return await raw._execute(function, raw._conn, *args)


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
        index = self._least_busy()
        if index is None or (self._waiting[index] and len(self.connections) < self.size):
            index = await self._open_one()
        connection = self.connections[index]
        self._waiting[index] += 1
        try:
            return await connection._execute(function, connection._conn, *args)
        finally:
            # A cancelled caller's job may still run; it ends its own transaction, like any other.
            self._waiting[index] -= 1

    def _least_busy(self) -> int | None:
        if not self.connections:
            return None
        return min(range(len(self._waiting)), key=self._waiting.__getitem__)

    async def _open_one(self) -> int:
        async with self._opening:
            index = self._least_busy()
            if index is not None and (not self._waiting[index] or len(self.connections) >= self.size):
                return index  # another caller opened one while this one waited
            self.connections.append(await self.pool.open())
            self._waiting.append(0)
            return len(self.connections) - 1

    async def close(self) -> None:
        connections, self.connections, self._waiting = self.connections, [], []
        for connection in connections:
            await connection.close()


class ReusingSQLiteBackend(SQLiteBackend):
    def __init__(self, database_url: DatabaseURL | str, **options: Any) -> None:
        super().__init__(database_url, **options)
        self.kept = ReusingSQLitePool(self._database_url, **self._options)
        self._pool = self.kept  # type: ignore[assignment]
        self.shared = SharedConnections(self.kept, SHARED_CONNECTIONS)
        self.statements = StatementCache(self._dialect)

    def connection(self) -> GatedSQLiteConnection:
        return GatedSQLiteConnection(self._pool, self._dialect, self.statements)  # type: ignore[arg-type]

    # The direct path (``app.db.prepared.direct_runner``): for a task that holds no connection of its
    # own, a prepared statement or a script is one hand-off to a shared connection's thread, with none
    # of ``databases``' per-call connection object, its three locks and the hand-off that releases it.

    async def fetch_prepared(self, prepared: Prepared, values: dict[str, Any]) -> list[dict[str, Any]]:
        text = prepared.text_for(self._dialect, numbered=False)
        gate = self.kept.gate if text.writes else None
        outcome: Outcome = await self.shared.run(_run, text.sql, prepared.arguments(text, values), gate)
        return _as_dicts(outcome.description, outcome.rows)

    async def run_script(self, script: Script[Any], args: tuple[Any, ...]) -> Any:
        abandoned = threading.Event()
        try:
            return await self.shared.run(_script_atomically, self.kept.gate, self._dialect, script, args, abandoned)
        except asyncio.CancelledError:
            abandoned.set()  # see GatedSQLiteConnection.run_script
            raise

    async def disconnect(self) -> None:
        # Not the parent's: it only drops a reference its own pool keeps for in-memory databases.
        await self.shared.close()
        await self.kept.close()
