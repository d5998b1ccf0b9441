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
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from databases.backends.common.records import Record, Row, create_column_maps
from databases.backends.sqlite import CompilationContext, SQLiteBackend, SQLiteConnection
from databases.core import DatabaseURL
from databases.interfaces import TransactionBackend
from sqlalchemy.engine.cursor import CursorResultMetaData
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.ddl import DDLElement

from app.db.atomic import Script
from app.db.prepared import Prepared
from app.db.sqlite_pools import SHARED_CONNECTIONS, ReusingSQLitePool, SharedConnections
from app.db.sqlite_threads import (
    Outcome,
    WriterGate,
    as_dicts,
    begin,
    end,
    run_statement,
    script_atomically,
    script_in_savepoint,
)
from app.db.statement_cache import StatementCache, sqlite_arguments


def _prepared_job(
    prepared: Prepared, values: dict[str, Any], dialect: Dialect, write_gate: WriterGate | None
) -> tuple[str, list[Any], WriterGate | None]:
    """``run_statement``'s arguments after the connection: the SQL, its values, and the gate if it writes
    (``write_gate`` is None where the caller's transaction holds the gate already)."""
    text = prepared.text_for(dialect, numbered=False)
    return text.sql, prepared.arguments(text, values), write_gate if text.writes else None


async def _abandonable(hand_off: Callable[..., Awaitable[Any]], function: Any, *args: Any) -> Any:
    """``hand_off(function, *args, abandoned)``. A caller cancelled while it waits stops waiting at once,
    but the hand-off still runs in the connection's thread: there it finds ``abandoned`` set and writes
    nothing. Only a script already running when the caller gave up commits."""
    abandoned = threading.Event()
    try:
        return await hand_off(function, *args, abandoned)
    except asyncio.CancelledError:
        abandoned.set()
        raise


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
        outcome = await self._hand_off(run_statement, compiled.string, args, self._gate_for(writes))
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
        job = _prepared_job(prepared, values, self._dialect, self._gate_for(writes=True))
        outcome = await self._hand_off(run_statement, *job)
        return as_dicts(outcome.description, outcome.rows)

    async def run_script(self, script: Script[Any], args: tuple[Any, ...]) -> Any:
        """The whole script in one hand-off to the connection's thread (see ``app.db.atomic``)."""
        if self.holds_gate:
            return await _abandonable(self._hand_off, script_in_savepoint, self._dialect, script, args)
        return await _abandonable(self._hand_off, script_atomically, self.gate, self._dialect, script, args)

    async def _hand_off(self, function: Any, *args: Any) -> Any:
        raw = self._connection
        assert raw is not None, "Connection is not acquired"
        return await raw._execute(function, raw._conn, *args)

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
                await self._in_thread(begin, self._connection.gate)
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
            await self._in_thread(end, self._connection.gate, statement)
        finally:
            self._connection.holds_gate = False

    async def _statement(self, sql: str) -> None:
        await self._in_thread(run_statement, sql, [], None)

    async def _in_thread(self, function: Any, *args: Any) -> Any:
        return await self._connection._hand_off(function, *args)


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
        job = _prepared_job(prepared, values, self._dialect, self.kept.gate)
        outcome: Outcome = await self.shared.run(run_statement, *job)
        return as_dicts(outcome.description, outcome.rows)

    async def run_script(self, script: Script[Any], args: tuple[Any, ...]) -> Any:
        return await _abandonable(self.shared.run, script_atomically, self.kept.gate, self._dialect, script, args)

    async def disconnect(self) -> None:
        # Not the parent's: it only drops a reference its own pool keeps for in-memory databases.
        await self.shared.close()
        await self.kept.close()
