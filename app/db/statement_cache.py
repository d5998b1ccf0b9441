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

from sqlalchemy.engine.interfaces import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import Compiled
from sqlalchemy.sql.ddl import DDLElement

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
