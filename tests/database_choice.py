"""The database the test servers run on: by default the SQLite file in their data directory; with
``TEST_DATABASE=postgresql``, a PostgreSQL database of their own on the local server
(``POSTGRES_TEST_URL``), one per data directory, so a server started again on the same directory (and
the CLI or a worker beside it) finds its rows, and no two tests see each other's."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import itertools
import os
import re
import sqlite3
import threading
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

POSTGRES_TEST_URL = os.environ.get("POSTGRES_TEST_URL", "postgresql://root@127.0.0.1:5432/test")
TEST_DATABASE = os.environ.get("TEST_DATABASE", "sqlite").strip().lower()
DATABASE_PREFIX = "tusmedia_run_"

if TEST_DATABASE not in ("sqlite", "postgresql"):
    raise RuntimeError(f"TEST_DATABASE must be sqlite or postgresql, not {TEST_DATABASE!r}")

_created: set[str] = set()
_lock = threading.Lock()


def on_postgres() -> bool:
    return TEST_DATABASE == "postgresql"


def database_url_for(data_dir: Path) -> str | None:
    """The ``DATABASE_URL`` for a process on ``data_dir``; None for the SQLite default."""
    return postgres_database_for(data_dir) if on_postgres() else None


def postgres_database_for(data_dir: Path) -> str:
    """A PostgreSQL database of ``data_dir``'s own, on any run: for tests of a PostgreSQL deployment."""
    # The run's pid in the name: a run cleans up its own, and those of runs no longer alive, never
    # another's that is still going.
    name = f"{DATABASE_PREFIX}{os.getpid()}_{hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:20]}"
    with _lock:
        if name not in _created:
            _run_admin([f'CREATE DATABASE "{name}"'])
            _created.add(name)
    return POSTGRES_TEST_URL.rsplit("/", 1)[0] + f"/{name}"


def fetch_rows(data_dir: Path, sql: str, *args: Any) -> list[tuple[Any, ...]]:
    """The rows of ``sql`` (``?`` placeholders) on the database of the processes on ``data_dir``."""
    url = database_url_for(data_dir)
    if url is None:
        with contextlib.closing(sqlite3.connect(data_dir / "tusmedia.db", timeout=10)) as connection:
            return connection.execute(sql, args).fetchall()
    numbers = itertools.count(1)
    numbered = re.sub(r"\?", lambda _: f"${next(numbers)}", sql)
    return [tuple(row.values()) for row in _on_postgres(url, lambda connection: connection.fetch(numbered, *args))]


def everything_stored(data_dir: Path) -> bytes:
    """All that the database of ``data_dir`` holds, as bytes to search: the SQLite files, or every row."""
    url = database_url_for(data_dir)
    if url is None:
        return b"".join(path.read_bytes() for path in sorted(data_dir.glob("tusmedia.db*")))

    async def dump(connection: Any) -> list[Any]:
        tables = await connection.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
        return [await connection.fetch(f'SELECT * FROM "{table["tablename"]}"') for table in tables]

    return repr([[tuple(row.values()) for row in rows] for rows in _on_postgres(url, dump)]).encode()


@contextlib.contextmanager
def sqlite_write_locked(data_dir: Path) -> Iterator[None]:
    """Hold the SQLite database's write lock from another connection, as a long transaction would."""
    connection = sqlite3.connect(data_dir / "tusmedia.db", isolation_level=None, timeout=10)
    connection.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        connection.execute("ROLLBACK")
        connection.close()


def drop_run_databases() -> None:
    """The databases this run made, and those left by runs that were killed before they could drop theirs."""
    if on_postgres() or _created:
        _run_admin([], drop_prefix=DATABASE_PREFIX)
        _created.clear()


def _is_leftover(name: str) -> bool:
    pid = name.removeprefix(DATABASE_PREFIX).partition("_")[0]
    if not pid.isdigit() or int(pid) == os.getpid():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def _on_postgres(url: str, query: Callable[[Any], Awaitable[Any]]) -> Any:
    async def run() -> Any:
        import asyncpg

        connection = await asyncpg.connect(url, timeout=10)
        try:
            return await query(connection)
        finally:
            await connection.close()

    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, run()).result()


def _run_admin(statements: list[str], drop_prefix: str = "") -> None:
    """On the server's maintenance database: a connection there can create and drop the others."""

    async def run(connection: Any) -> None:
        for statement in statements:
            await connection.execute(statement)
        if drop_prefix:
            query = "SELECT datname FROM pg_database WHERE starts_with(datname, $1)"
            for row in await connection.fetch(query, drop_prefix):
                if _is_leftover(row["datname"]):
                    await connection.execute(f'DROP DATABASE IF EXISTS "{row["datname"]}" WITH (FORCE)')

    _on_postgres(POSTGRES_TEST_URL, run)
