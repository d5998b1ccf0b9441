"""Statements for the hot path: built once, compiled once per dialect, run with plain values.

Even with each shape compiled once (``statement_cache``), a statement built per call costs SQLAlchemy
work on every request: building it, deriving its cache key, and ``databases`` turning each result row
into a ``Record``; together about half a millisecond of event loop per statement. The few statements
that every upload runs (the token lookup, the row and its events, the status changes) are instead
written once with named ``bindparam`` placeholders and run through the backend's connection directly:
the call's values go in by name, rows come back as plain dicts.

Values must be what the driver takes as they are (str, int, float, None): no bind processors run. A
prepared statement runs on the task's own connection, so it belongs to the transaction the task is in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

from databases import Database
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.sql import Executable

Row = dict[str, Any]


class StatementText(NamedTuple):
    sql: str  # in the driver's own parameter style
    names: tuple[str, ...]  # the parameters in the order the driver takes them
    fixed: dict[str, Any]  # values the statement fixed itself (``status == 'uploading'``)
    writes: bool


class Prepared:
    """A statement, or a function of the dialect's name that builds it (for SQL that differs by dialect)."""

    def __init__(self, statement: Executable | Callable[[str], Executable]) -> None:
        self._build = statement if callable(statement) else lambda dialect_name: statement
        self._texts: dict[tuple[str, bool], StatementText] = {}

    def text_for(self, dialect: Dialect, numbered: bool) -> StatementText:
        """``?`` in statement order for SQLite; ``$1, $2, ...`` by sorted name for asyncpg (``numbered``)."""
        text = self._texts.get((dialect.name, numbered))
        if text is None:
            statement = self._build(dialect.name)
            compiled: Any = statement.compile(dialect=dialect)  # type: ignore[attr-defined]
            fixed = {name: bind.value for bind, name in compiled.bind_names.items() if not bind.required}
            writes = bool(getattr(statement, "is_dml", False))
            if numbered:
                names = tuple(sorted(set(compiled.bind_names.values())))
                sql = compiled.string % {name: f"${number}" for number, name in enumerate(names, start=1)}
                text = StatementText(sql, names, fixed, writes)
            else:
                text = StatementText(compiled.string, tuple(compiled.positiontup or ()), fixed, writes)
            self._texts[dialect.name, numbered] = text
        return text

    @staticmethod
    def arguments(text: StatementText, values: dict[str, Any]) -> list[Any]:
        try:
            return [values[name] if name in values else text.fixed[name] for name in text.names]
        except KeyError as missing:
            raise TypeError(f"no value given for the statement's parameter {missing}") from None


class RunsDirectly(Protocol):
    """A backend that runs prepared statements and scripts on kept connections of its own, for tasks
    that hold no connection (and so no transaction) of ``databases``' (the SQLite backend)."""

    async def fetch_prepared(self, prepared: Prepared, values: dict[str, Any]) -> list[Row]: ...

    async def run_script(self, script: Callable[..., Any], args: tuple[Any, ...]) -> Any: ...


def direct_runner(database: Database) -> RunsDirectly | None:
    """The backend, when this task's statement need not go through ``databases``: the backend can run
    it directly and the task has no connection of its own (whose open transaction it must join)."""
    backend: Any = database._backend
    if not hasattr(backend, "fetch_prepared") or database._global_connection is not None:
        return None
    if asyncio.current_task() in database._connection_map:
        return None
    return backend  # type: ignore[no-any-return]


async def fetch_all(database: Database, prepared: Prepared, **values: Any) -> list[Row]:
    direct = direct_runner(database)
    if direct is not None:
        return await direct.fetch_prepared(prepared, values)
    connection = database.connection()
    async with connection:
        return list(await connection._connection.run_prepared(prepared, values))  # type: ignore[attr-defined]


async def fetch_one(database: Database, prepared: Prepared, **values: Any) -> Row | None:
    rows = await fetch_all(database, prepared, **values)
    return rows[0] if rows else None


async def fetch_value(database: Database, prepared: Prepared, **values: Any) -> Any:
    row = await fetch_one(database, prepared, **values)
    return None if row is None else next(iter(row.values()))
