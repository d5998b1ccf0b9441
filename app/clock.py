"""Timestamps as ISO 8601 UTC text: portable across SQLite and PostgreSQL and sortable as strings."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def utc_now() -> datetime:
    return datetime.now(UTC)


def timestamp(moment: datetime | None = None) -> str:
    return (moment or utc_now()).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def timestamp_in(seconds: float) -> str:
    return timestamp(utc_now() + timedelta(seconds=seconds))
