"""The database's own clock, as our timestamp text, for leases and schedules that several hosts share.

Leases and retry times are read and written on the database's clock, never a host's, so workers on
machines whose clocks disagree still agree on when a lease has run out.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from databases import Database

# Our timestamp text (``2026-11-25T01:04:25.820737Z``) in each dialect's own words. SQLite's %f is
# seconds with milliseconds, so three zeros keep the width of PostgreSQL's microseconds.
_SQLITE_FORMAT = "%Y-%m-%dT%H:%M:%f000Z"
_POSTGRES_FORMAT = 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'


def _clock(dialect_name: str, sqlite_modifier: Any, postgres_seconds: Any) -> sa.ColumnElement[Any]:
    """The database's time plus an offset, as timestamp text; the offset in each dialect's terms."""
    if dialect_name == "sqlite":
        return sa.func.strftime(_SQLITE_FORMAT, "now", sqlite_modifier)
    utc_now: sa.ColumnElement[Any] = sa.literal_column("(now() AT TIME ZONE 'UTC')")
    ahead = sa.func.make_interval(0, 0, 0, 0, 0, 0, postgres_seconds)
    return sa.func.to_char(utc_now + ahead, _POSTGRES_FORMAT)


def database_clock(database: Database, seconds_ahead: float = 0.0) -> sa.ColumnElement[Any]:
    """The database's time, ``seconds_ahead`` from now, as timestamp text."""
    return _clock(database.url.dialect, f"{seconds_ahead:+f} seconds", sa.literal(float(seconds_ahead), sa.Float))


def prepared_clock(dialect_name: str, leased: bool = False) -> sa.ColumnElement[Any]:
    """``database_clock`` for a prepared statement; a lease's end is now plus the ``lease_seconds``
    parameter (PostgreSQL) or the ``lease_modifier`` one (SQLite: ``+60.000000 seconds``)."""
    if not leased:
        return _clock(dialect_name, "+0.000000 seconds", sa.literal(0.0, sa.Float))
    return _clock(dialect_name, sa.bindparam("lease_modifier"), sa.bindparam("lease_seconds", type_=sa.Float))


def lease(seconds: float) -> dict[str, Any]:
    """The values of ``prepared_clock(..., leased=True)``'s parameters for a lease of ``seconds``."""
    return {"lease_seconds": float(seconds), "lease_modifier": f"{seconds:+f} seconds"}
