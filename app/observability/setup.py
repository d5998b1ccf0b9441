"""Putting observability together for the server: the request middleware and the routes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import dramatiq
from databases import Database
from starlette.middleware import Middleware
from starlette.routing import Route

from app.observability.exposition import metrics_routes
from app.observability.health import Readiness, health_routes
from app.observability.middleware import ObservedRequests
from app.observability.queues import watch_queues
from app.tus.locks import Locks
from config import Settings


def request_middleware(settings: Settings) -> Middleware:
    return Middleware(ObservedRequests, upload_path=settings.tus_base_path)


def observability_routes(
    settings: Settings,
    database: Database,
    broker: dramatiq.Broker,
    queue_names: tuple[str, ...],
    locks: Locks,
    store_answers: Callable[[], Awaitable[None]] | None = None,
) -> list[Route]:
    watch_queues(broker, queue_names)
    readiness = Readiness(
        database, broker, settings.local_store_dir, settings.ready_min_free_bytes, locks, store_answers
    )
    return [*health_routes(readiness), *metrics_routes()]
