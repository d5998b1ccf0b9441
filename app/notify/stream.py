"""``GET /api/events``: every status change of the assets the caller may see, as Server-Sent Events.

The stream reads committed ``asset_events`` rows with an id above the last one it sent, so the SSE
``id`` is the row id and a reconnect with ``Last-Event-ID`` resumes exactly where it stopped. Rows
written by any process (a ``tusmedia worker``, another server) are found by polling; a commit in this
process, or one announced on Redis (``<QUEUE_NAMESPACE>:asset-events``), wakes the streams at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator, Callable
from typing import Any

import sqlalchemy as sa
from databases import Database
from sse_starlette import EventSourceResponse, ServerSentEvent

from app.db.tables import asset_events
from app.notify.outbox import listen

log = logging.getLogger(__name__)

POLL_SECONDS = 0.5
BATCH = 200
REDIS_RETRY_SECONDS = 1.0
_EVENT_ID = re.compile(r"[0-9]{1,18}")


class Wakeups:
    """Wakes every open stream of this server when an event may have been committed: one in this
    process (from any thread), or one another process announced on Redis."""

    def __init__(self, redis_url: str, channel: str) -> None:
        self.redis_url = redis_url
        self.channel = channel
        self._streams: set[asyncio.Event] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._listener: asyncio.Task[None] | None = None
        self._stop_listening: Callable[[], None] | None = None
        # At most one wake-up on its way to the loop: a burst of events (every upload commits a few)
        # costs the loop one call, not a call and a write to its self-pipe each.
        self._wake_pending = False

    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_listening = listen(lambda upload_id, deliveries: self.wake_threadsafe())
        if self.redis_url:
            self._listener = asyncio.create_task(self._listen_on_redis())

    async def stop(self) -> None:
        if self._stop_listening is not None:
            self._stop_listening()
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener

    def subscribe(self) -> asyncio.Event:
        event = asyncio.Event()
        self._streams.add(event)
        return event

    def unsubscribe(self, event: asyncio.Event) -> None:
        self._streams.discard(event)

    def wake(self) -> None:
        self._wake_pending = False
        for event in self._streams:
            event.set()

    def wake_threadsafe(self) -> None:
        loop = self._loop
        if self._wake_pending or loop is None or loop.is_closed():
            return
        # A racing second caller may schedule a second wake-up: harmless. Streams read what was
        # committed before the wake-up runs, and it runs after this flag is set.
        self._wake_pending = True
        loop.call_soon_threadsafe(self.wake)

    async def _listen_on_redis(self) -> None:
        import redis.asyncio as aioredis  # here: a server without Redis never loads its client (memory)

        while True:
            client = aioredis.Redis.from_url(self.redis_url)
            try:
                async with client.pubsub() as pubsub:
                    await pubsub.subscribe(self.channel)
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            self.wake()
            except Exception:
                log.warning("lost the Redis event channel; the streams poll meanwhile", exc_info=True)
            finally:
                await client.aclose()
            await asyncio.sleep(REDIS_RETRY_SECONDS)


def parse_event_id(text: str | None) -> int | None:
    if text is None or _EVENT_ID.fullmatch(text.strip()) is None:
        return None
    return int(text.strip())


async def latest_event_id(database: Database) -> int:
    return int(await database.fetch_val(sa.select(sa.func.coalesce(sa.func.max(asset_events.c.id), 0))))


async def events_after(
    database: Database, after: int, *, owner: str | None, upload_id: str | None, limit: int = BATCH
) -> list[dict[str, Any]]:
    query = asset_events.select().where(asset_events.c.id > after)
    if owner is not None:
        query = query.where(asset_events.c.owner == owner)
    if upload_id is not None:
        query = query.where(asset_events.c.upload_id == upload_id)
    records = await database.fetch_all(query.order_by(asset_events.c.id).limit(limit))
    return [dict(record._mapping) for record in records]


def as_message(row: dict[str, Any]) -> ServerSentEvent:
    data = {
        "id": row["id"],
        "asset_id": row["upload_id"],
        "event": row["event"],
        "type": row["type"],
        "status": row["status"],
        "detail": row["detail"],
        "at": row["at"],
        "asset": json.loads(row["data"]) if row["data"] else None,
    }
    return ServerSentEvent(data=json.dumps(data, separators=(",", ":")), event=row["event"], id=str(row["id"]))


def event_stream(
    database: Database,
    wakeups: Wakeups,
    after: int,
    *,
    owner: str | None,
    upload_id: str | None,
    heartbeat_seconds: float,
) -> EventSourceResponse:
    async def messages() -> AsyncIterator[ServerSentEvent]:
        woken = wakeups.subscribe()
        last = after
        try:
            while True:
                woken.clear()  # before the read: a commit during it wakes the next wait at once
                rows = await events_after(database, last, owner=owner, upload_id=upload_id)
                for row in rows:
                    last = row["id"]
                    yield as_message(row)
                if len(rows) < BATCH:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(woken.wait(), POLL_SECONDS)
        finally:
            wakeups.unsubscribe(woken)

    return EventSourceResponse(
        messages(),
        ping=heartbeat_seconds,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
