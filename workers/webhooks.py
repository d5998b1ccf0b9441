"""The webhook actor: deliver an asset's pending webhooks in order, signed, and schedule retries.

``deliver_webhooks(upload_id)`` works through each endpoint's queue for the asset: claim the head
(``app/notify/deliveries.py``), POST it, record the attempt. A failure (no connection, a timeout, an
answer other than 2xx) makes the delivery due again after a backoff that doubles from
``WEBHOOK_MIN_BACKOFF`` to ``WEBHOOK_MAX_BACKOFF``, and sends this actor again with that delay; past
``WEBHOOK_MAX_AGE`` the delivery ends ``failed``. A message that is lost (a killed worker, a broker
restart) costs only time: the server's recovery sweep re-sends the actor for every delivery overdue
and not held.

``declare_webhook_actors`` also registers what every event commit in this process sets off
(``app.notify.outbox.listen``): this actor for new deliveries, and a Redis nudge for the live streams.
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import dramatiq
from databases import Database
from standardwebhooks import Webhook

from app.db import open_database
from app.notify import deliveries
from app.notify.outbox import listen
from app.notify.webhook_format import signed_headers, webhook_body
from config import Settings
from workers.broker import CloseOnShutdown, longest_delay_seconds
from workers.child import one_line

if TYPE_CHECKING:
    import httpx
    import redis

log = logging.getLogger(__name__)

# An asset's deliveries handled per message before it hands over to a fresh one (Dramatiq's time limit).
DELIVERIES_PER_MESSAGE = 20
REDIS_TIMEOUT_SECONDS = 2.0


def events_channel(settings: Settings) -> str:
    """The Redis channel every event writer publishes to after commit, so streams wake at once."""
    return f"{settings.queue_namespace}:asset-events"


def backoff_seconds(settings: Settings, failures: int) -> float:
    """After the ``failures``-th failure in a row: 1, 2, 4 ... times the minimum, capped."""
    doubled = settings.webhook_min_backoff_seconds * 2 ** min(failures - 1, 40)
    return float(min(doubled, settings.webhook_max_backoff_seconds))


def lease_seconds(settings: Settings) -> float:
    """Long enough for one POST with its timeout, so a live attempt is never taken over."""
    return settings.webhook_timeout_seconds * 2 + 5


class WebhookJobs:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.signer = Webhook(settings.webhook_secret) if settings.webhook_secret else None
        self.actor: dramatiq.Actor | None = None
        self._database: Database | None = None
        self._client: httpx.AsyncClient | None = None
        self._connecting = asyncio.Lock()

    async def database(self) -> Database:
        async with self._connecting:
            if self._database is None:
                # No migration here: a delivery exists only where a migrated server (or job) wrote it, and
                # a second connection migrating beside the media actor's would only contend for the lock.
                database = open_database(self.settings.database_url, self.settings.sqlite_busy_timeout_seconds)
                await database.connect()
                self._database = database
        return self._database

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None
        if self._database is not None:
            await self._database.disconnect()
            self._database = None

    async def deliver_webhooks(self, upload_id: str) -> None:
        if self.signer is None:
            log.warning("deliver_webhooks(%s): no WEBHOOK_SECRET here; its deliveries stay pending", upload_id)
            return
        database = await self.database()
        for endpoint in await deliveries.pending_endpoints(database, upload_id):
            await self._deliver_queue(database, upload_id, endpoint)

    async def _deliver_queue(self, database: Database, upload_id: str, endpoint: str) -> None:
        for _ in range(DELIVERIES_PER_MESSAGE):
            delivery = await deliveries.claim(database, upload_id, endpoint, lease_seconds(self.settings))
            if delivery is None:
                return  # nothing due, or another attempt holds the head
            status = await self._attempt(database, delivery)
            if status != deliveries.DELIVERED:
                if status == deliveries.PENDING:
                    await self._send(upload_id, backoff_seconds(self.settings, delivery["failures"] + 1))
                return  # later events wait for this one: the order per asset holds
        await self._send(upload_id, 0)

    async def _attempt(self, database: Database, delivery: dict[str, Any]) -> str | None:
        event = await deliveries.event(database, delivery["event_id"])
        status_code: int | None = None
        error: str | None = None
        started = time.monotonic()
        if event is None:
            error = "the event row is missing"
        else:
            body = webhook_body(event)
            assert self.signer is not None
            headers = signed_headers(self.signer, event, body, datetime.now(UTC))
            import httpx  # here, not at import: the server declares this actor too, and never sends (memory)

            try:
                response = await self._http().post(delivery["endpoint"], content=body.encode(), headers=headers)
                status_code = response.status_code
                if not 200 <= status_code < 300:
                    error = f"HTTP {status_code}"
            except httpx.HTTPError as failure:
                error = one_line(failure)
        duration_ms = int((time.monotonic() - started) * 1000)
        status = await deliveries.record_attempt(
            database,
            delivery,
            status_code=status_code,
            error=error,
            duration_ms=duration_ms,
            retry_in_seconds=backoff_seconds(self.settings, delivery["failures"] + 1),
            max_age_seconds=self.settings.webhook_max_age_seconds,
        )
        outcome = "delivered" if error is None else f"failed ({error})"
        log.info("webhook %d attempt %d to %s: %s", delivery["id"], delivery["attempts"], delivery["endpoint"], outcome)
        return status

    def _http(self) -> httpx.AsyncClient:
        import httpx

        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=self.settings.webhook_timeout_seconds,
                follow_redirects=False,
                headers={"user-agent": "tusmedia-webhooks"},
            )
        return self._client

    async def _send(self, upload_id: str, delay_seconds: float) -> None:
        assert self.actor is not None
        actor = self.actor
        longest = longest_delay_seconds(actor.broker)
        if longest is not None and delay_seconds > longest:
            # The broker may not hold a message that long (RabbitMQ's consumer_timeout): the recovery
            # sweep sends the actor once the delivery is due.
            log.info("deliver_webhooks(%s) is due in %.0f s: the recovery sweep sends it", upload_id, delay_seconds)
            return
        delay_ms = int(delay_seconds * 1000)
        try:
            await asyncio.to_thread(lambda: actor.send_with_options(args=(upload_id,), delay=delay_ms or None))
        except Exception:
            log.warning("could not schedule deliver_webhooks(%s); the recovery sweep will", upload_id, exc_info=True)


class Announcer:
    """What an event commit sets off in this process, off the caller's path (one thread): the actor
    when the event queued deliveries, and a nudge on Redis for the live streams of every server."""

    def __init__(self, actor: dramatiq.Actor, settings: Settings) -> None:
        self.actor = actor
        self.channel = events_channel(settings)
        self.redis: redis.Redis | None = None
        if settings.redis_url:
            import redis  # where configured only: the server declares these actors too (memory)

            timeout = REDIS_TIMEOUT_SECONDS
            self.redis = redis.Redis.from_url(
                settings.redis_url, socket_timeout=timeout, socket_connect_timeout=timeout
            )
        self.thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="announce")

    def __call__(self, upload_id: str, deliveries_queued: int) -> None:
        # Most events queue no delivery, and without Redis there is no one to nudge: no hand-off then.
        if deliveries_queued or self.redis is not None:
            self.thread.submit(self._tell, upload_id, deliveries_queued)

    def _tell(self, upload_id: str, deliveries_queued: int) -> None:
        if deliveries_queued:
            try:
                self.actor.send(upload_id)
            except Exception:
                log.warning("could not send deliver_webhooks(%s); the recovery sweep will", upload_id, exc_info=True)
        if self.redis is not None:
            import redis

            try:
                self.redis.publish(self.channel, upload_id)
            except redis.RedisError:
                log.warning("could not nudge the event streams on Redis; they poll", exc_info=True)

    def close(self) -> None:
        self.thread.shutdown(wait=True)
        if self.redis is not None:
            self.redis.close()


@dataclass(frozen=True)
class WebhookActors:
    deliver_webhooks: dramatiq.Actor
    jobs: WebhookJobs
    announcer: Announcer
    _stop_listening: Any

    def close(self) -> None:
        """Stop announcing this process's commits (the actor stays declared)."""
        self._stop_listening()
        self.announcer.close()


def declare_webhook_actors(broker: dramatiq.Broker, settings: Settings) -> WebhookActors:
    jobs = WebhookJobs(settings)
    broker.add_middleware(CloseOnShutdown(jobs.close))
    actor = dramatiq.actor(
        actor_name="deliver_webhooks",
        queue_name=f"{settings.queue_namespace}.webhooks",
        broker=broker,
        # Retries are this actor's own (rows, backoff, the sweep); Dramatiq's only cover a database hiccup.
        max_retries=3,
        min_backoff=1_000,
        max_backoff=30_000,
    )(jobs.deliver_webhooks)
    jobs.actor = actor
    announcer = Announcer(actor, settings)
    return WebhookActors(actor, jobs, announcer, listen(announcer))
