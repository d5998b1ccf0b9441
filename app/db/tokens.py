"""The ``api_tokens`` table: opaque tokens, kept as hashes only."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from databases import Database

from app.clock import timestamp
from app.db import prepared
from app.db.tables import api_tokens

Row = dict[str, Any]


async def insert_token(
    database: Database, token_id: str, subject: str, is_admin: bool, secret_hash: str, expires_at: str | None
) -> None:
    await database.execute(
        api_tokens.insert().values(
            id=token_id,
            subject=subject,
            is_admin=1 if is_admin else 0,
            secret_hash=secret_hash,
            created_at=timestamp(),
            expires_at=expires_at,
        )
    )


# Every authenticated request runs it.
_GET_TOKEN = prepared.Prepared(api_tokens.select().where(api_tokens.c.id == sa.bindparam("token_id")))


async def get_token(database: Database, token_id: str) -> Row | None:
    return await prepared.fetch_one(database, _GET_TOKEN, token_id=token_id)


async def list_tokens(database: Database) -> list[Row]:
    records = await database.fetch_all(api_tokens.select().order_by(api_tokens.c.created_at))
    return [dict(record._mapping) for record in records]


async def count_tokens(database: Database) -> int:
    return int(await database.fetch_val(sa.select(sa.func.count()).select_from(api_tokens)) or 0)


async def revoke_token(database: Database, token_id: str) -> bool:
    record = await database.fetch_one(
        api_tokens.update()
        .where(api_tokens.c.id == token_id, api_tokens.c.revoked_at.is_(None))
        .values(revoked_at=timestamp())
        .returning(api_tokens.c.id)
    )
    return record is not None


async def record_use(database: Database, token_id: str) -> None:
    await database.execute(api_tokens.update().where(api_tokens.c.id == token_id).values(last_used_at=timestamp()))
