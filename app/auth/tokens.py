"""Opaque API tokens: ``tm_<id>_<secret>``, 256 random bits of secret, kept only as a SHA-256 hash.

The id is public (``tusmedia token list`` shows it, ``revoke`` takes it); the secret is shown once,
when the token is made. A hash of a 256-bit random secret needs no salt or slow hashing: there is
nothing to guess. Presented secrets are compared with the stored hash in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from datetime import timedelta

from databases import Database

from app.auth.errors import AuthError
from app.auth.principal import Principal
from app.clock import timestamp, utc_now
from app.db import tokens as stored

PREFIX = "tm"
# last_used_at is for people reading `token list`; writing it on every request would cost a write
# per request, so it is refreshed at most this often per token and process.
LAST_USED_RESOLUTION_SECONDS = 60.0


@dataclass(frozen=True)
class IssuedToken:
    id: str
    subject: str
    is_admin: bool
    expires_at: str | None
    token: str  # the only time the secret exists outside the client


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def is_opaque(token: str) -> bool:
    return token.startswith(f"{PREFIX}_")


async def issue(database: Database, subject: str, is_admin: bool, expires_days: float | None) -> IssuedToken:
    if not subject or len(subject) > 200:
        raise ValueError("a token's user name is 1 to 200 characters")
    token_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    expires_at = None if expires_days is None else timestamp(utc_now() + timedelta(days=expires_days))
    await stored.insert_token(database, token_id, subject, is_admin, _digest(secret), expires_at)
    return IssuedToken(token_id, subject, is_admin, expires_at, f"{PREFIX}_{token_id}_{secret}")


class OpaqueTokens:
    def __init__(self, database: Database) -> None:
        self.database = database
        self._last_recorded: dict[str, float] = {}

    async def verify(self, token: str) -> Principal:
        token_id, _, secret = token.removeprefix(f"{PREFIX}_").partition("_")
        row = await stored.get_token(self.database, token_id) if token_id and secret else None
        # Compare even when the id is unknown, so timing says nothing about which ids exist.
        expected = row["secret_hash"] if row is not None else _digest("")
        if not hmac.compare_digest(_digest(secret), expected) or row is None:
            raise AuthError("unknown token")
        if row["revoked_at"] is not None:
            raise AuthError("token revoked")
        if row["expires_at"] is not None and row["expires_at"] <= timestamp():
            raise AuthError("token expired")
        await self._record_use(token_id)
        return Principal(subject=row["subject"], is_admin=bool(row["is_admin"]))

    async def _record_use(self, token_id: str) -> None:
        now = time.monotonic()
        if now - self._last_recorded.get(token_id, float("-inf")) >= LAST_USED_RESOLUTION_SECONDS:
            self._last_recorded[token_id] = now
            await stored.record_use(self.database, token_id)
