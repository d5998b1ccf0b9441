"""Putting the events' consumers together for the server: the webhook actor, the streams' wake-ups,
the endpoints, and what the lifespan and the recovery sweep call."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass

import dramatiq
from databases import Database
from starlette.routing import Route

from app.auth.links import LinkSigner
from app.notify import deliveries
from app.notify.api import NotifyApi
from app.notify.stream import Wakeups
from config import Settings
from workers.webhooks import WebhookActors, declare_webhook_actors, events_channel

log = logging.getLogger(__name__)


@dataclass
class Notify:
    database: Database
    settings: Settings
    webhooks: WebhookActors
    wakeups: Wakeups
    api: NotifyApi

    def routes(self) -> list[Route]:
        return self.api.routes()

    async def start(self) -> None:
        """After the migrations: the server's WEBHOOK_URLS become the endpoints new events go to."""
        await deliveries.sync_endpoints(self.database, self.settings.webhook_urls)
        await self.wakeups.start()

    async def stop(self) -> None:
        await self.wakeups.stop()
        await asyncio.to_thread(self.webhooks.close)

    async def resend_due(self) -> int:
        """For the recovery sweep: deliveries whose message a crash or a restart may have lost."""
        resent = await deliveries.resend_due(self.database, self.api.kick)
        if resent:
            log.info("recovery sweep re-sent the webhooks of %d asset(s)", resent)
        return resent


def build_notify(settings: Settings, database: Database, broker: dramatiq.Broker, links: LinkSigner) -> Notify:
    webhooks = declare_webhook_actors(broker, settings)
    wakeups = Wakeups(settings.redis_url, events_channel(settings))

    async def send(upload_id: str) -> None:
        await asyncio.to_thread(webhooks.deliver_webhooks.send, upload_id)

    return Notify(database, settings, webhooks, wakeups, NotifyApi(database, settings, links, wakeups, send))
