"""Compiling each statement shape once, for ``databases``.

``databases`` compiles every SQLAlchemy statement afresh on every call: a few hundred microseconds
each, a quarter of the server's event loop under many small uploads. SQLAlchemy's own engine avoids
that with a cache keyed by the statement's structure (its cache key, which leaves the bound values
out); these backends do the same: a statement compiled once with its cache key, then given each
call's values through ``construct_params(extracted_parameters=...)``, exactly as the engine does.

Statements that the cache cannot hold are compiled as before: those without a cache key, DDL, and
those whose text depends on their values (expanding ``IN`` lists and literal-rendered parameters).
"""

from __future__ import annotations

from typing import Any

from databases.backends.postgres import PostgresBackend, PostgresConnection
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import Compiled
from sqlalchemy.sql.ddl import DDLElement

from app.db.prepared import Prepared

# Distinct statement shapes are few (tens); the bound only guards against a caller that builds
# unbounded variety, which then costs a recompile, never memory.
MAX_CACHED_STATEMENTS = 2000

_COMPILE_OPTIONS = {"render_postcompile": True}


class CachedStatement:
    """One compiled statement shape, and whatever a backend derives from it once (``derived``)."""

    __slots__ = ("compiled", "derived")

    def __init__(self, compiled: Compiled) -> None:
        # Typed loosely: what is read of it (bind processors, result columns) is SQLAlchemy's private
        # compiler state, the same that databases itself reads.
        self.compiled: Any = compiled
        self.derived: Any = None


class StatementCache:
    def __init__(self, dialect: Dialect) -> None:
        self.dialect = dialect
        self._statements: dict[Any, CachedStatement] = {}

    def compile(self, query: ClauseElement) -> tuple[CachedStatement, dict[str, Any]]:
        """The statement's compiled shape and this call's parameters by name."""
        cache_key = None if isinstance(query, DDLElement) else query._generate_cache_key()
        if cache_key is None or any(bind.expanding or bind.literal_execute for bind in cache_key.bindparams):
            compiled = query.compile(dialect=self.dialect, compile_kwargs=_COMPILE_OPTIONS)
            return CachedStatement(compiled), dict(compiled.params)
        statement = self._statements.get(cache_key.key)
        if statement is None:
            compiled = query.compile(dialect=self.dialect, cache_key=cache_key, compile_kwargs=_COMPILE_OPTIONS)
            if len(self._statements) >= MAX_CACHED_STATEMENTS:
                self._statements.clear()
            statement = self._statements[cache_key.key] = CachedStatement(compiled)
        return statement, dict(statement.compiled.construct_params(extracted_parameters=cache_key.bindparams))

    def __len__(self) -> int:
        return len(self._statements)


def sqlite_arguments(statement: CachedStatement, params: dict[str, Any]) -> list[Any]:
    """The positional (qmark) arguments of one call, through the columns' bind processors."""
    compiled = statement.compiled
    processors = compiled._bind_processors
    order = compiled.positiontup or ()
    return [processors[key](params[key]) if key in processors else params[key] for key in order]


class CachingPostgresConnection(PostgresConnection):
    def __init__(self, database: PostgresBackend, dialect: Dialect, cache: StatementCache) -> None:
        super().__init__(database, dialect)
        self._cache = cache

    def _compile(self, query: ClauseElement) -> tuple[str, list[Any], Any]:
        statement, params = self._cache.compile(query)
        compiled = statement.compiled
        if isinstance(query, DDLElement):
            return compiled.string, [], None
        if statement.derived is None:
            # asyncpg numbers its parameters ($1, $2, ...) in the order of their sorted names.
            names = sorted(params)
            statement.derived = (compiled.string % {name: f"${i}" for i, name in enumerate(names, start=1)}, names)
        text, names = statement.derived
        processors = compiled._bind_processors
        args = [processors[name](params[name]) if name in processors else params[name] for name in names]
        return text, args, compiled._result_columns

    async def run_prepared(self, prepared: Prepared, values: dict[str, Any]) -> list[dict[str, Any]]:
        assert self._connection is not None, "Connection is not acquired"
        text = prepared.text_for(self._dialect, numbered=True)
        records = await self._connection.fetch(text.sql, *prepared.arguments(text, values))
        return [dict(record.items()) for record in records]


class CachingPostgresBackend(PostgresBackend):
    def __init__(self, database_url: Any, **options: Any) -> None:
        super().__init__(database_url, **options)
        self.statements = StatementCache(self._dialect)

    def connection(self) -> CachingPostgresConnection:
        return CachingPostgresConnection(self, self._dialect, self.statements)
