"""The PostgreSQL backend under ``databases`` (asyncpg), with each statement shape compiled once
(``app.db.statement_cache``). In a module of its own so that a server on SQLite never imports asyncpg."""

from __future__ import annotations

from typing import Any

from databases.backends.postgres import PostgresBackend, PostgresConnection
from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.ddl import DDLElement

from app.db.prepared import Prepared
from app.db.statement_cache import StatementCache


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
