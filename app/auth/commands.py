"""What ``tusmedia token`` and the first start of ``tusmedia serve`` do with tokens. They work on the
database directly, so they work while the server runs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from databases import Database

from app.auth.tokens import IssuedToken, issue
from app.db import open_database
from app.db import tokens as stored
from app.db.migrations import migrate
from config import Settings


@asynccontextmanager
async def _database(settings: Settings) -> AsyncIterator[Database]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)  # the default SQLite file lives there
    database = open_database(settings.database_url, settings.sqlite_busy_timeout_seconds)
    await database.connect()
    try:
        await migrate(database)
        yield database
    finally:
        await database.disconnect()


async def create_token(settings: Settings, subject: str, is_admin: bool, expires_days: float | None) -> IssuedToken:
    async with _database(settings) as database:
        return await issue(database, subject, is_admin, expires_days)


async def list_tokens(settings: Settings) -> list[dict[str, Any]]:
    async with _database(settings) as database:
        return await stored.list_tokens(database)


async def revoke_token(settings: Settings, token_id: str) -> bool:
    async with _database(settings) as database:
        return await stored.revoke_token(database, token_id)


async def first_admin_token(settings: Settings) -> IssuedToken | None:
    """On a first start that would let nobody in (no token yet, no JWT issuer, no anonymous access),
    an admin token, so the quick start stays one command; None otherwise."""
    if settings.allow_anonymous or settings.uses_jwt:
        return None
    async with _database(settings) as database:
        if await stored.count_tokens(database):
            return None
        return await issue(database, "admin", is_admin=True, expires_days=None)
