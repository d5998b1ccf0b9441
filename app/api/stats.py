"""``/api/stats``, ``/api/uploads/active`` and ``/api/me``: how things stand, for an admin across
everyone, for a user across their own uploads only (never a number that counts anyone else's rows;
the broker's queue depth, which counts everyone's jobs, is shown to admins only)."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import Any

import dramatiq
from databases import Database
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.api.assets import _page_size
from app.assets.lifecycle import UploadLifecycle
from app.assets.upload_rates import WINDOW_SECONDS
from app.auth import Principal, identify
from app.clock import timestamp, utc_now
from app.db import listing, stats
from app.observability.queues import queue_depths
from app.storage import StorageError, UploadStore
from app.urls import public_base_url
from config import Settings

log = logging.getLogger(__name__)

TOP_FAILURE_REASONS = 10
TOP_OWNERS = 100
PERCENTILES = (("p50", 0.50), ("p95", 0.95), ("p99", 0.99))


def _parse_time(text: str) -> float | None:
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None


class StatsApi:
    def __init__(
        self,
        database: Database,
        settings: Settings,
        store: UploadStore,
        lifecycle: UploadLifecycle,
        broker: dramatiq.Broker,
        queue_name: str,
    ) -> None:
        self.database = database
        self.settings = settings
        self.store = store
        self.lifecycle = lifecycle
        self.broker = broker
        self.queue_name = queue_name

    def routes(self) -> list[Route]:
        return [
            Route("/api/stats", self.get_stats, methods=["GET"]),
            Route("/api/uploads/active", self.active_uploads, methods=["GET"]),
            Route("/api/me", self.me, methods=["GET"]),
        ]

    async def get_stats(self, request: Request) -> Response:
        principal = await identify(request)
        owner = principal.owner_filter
        now = utc_now()
        statuses = await stats.by_status(self.database, owner)
        body: dict[str, Any] = {
            "scope": "all" if principal.is_admin else "own",
            "by_status": statuses,
            "total": {
                "count": sum(value["count"] for value in statuses.values()),
                "bytes": sum(value["bytes"] for value in statuses.values()),
            },
            "by_owner": await stats.by_owner(self.database, TOP_OWNERS) if principal.is_admin else None,
            "queue": await self._queue(principal, now.timestamp()),
            "processing_time_ms": {
                "last_hour": await self._times(owner, timestamp(now - timedelta(hours=1))),
                "last_day": await self._times(owner, timestamp(now - timedelta(days=1))),
            },
            "failures": await stats.failures_by_reason(self.database, owner, TOP_FAILURE_REASONS),
        }
        return JSONResponse(body)

    async def _queue(self, principal: Principal, now: float) -> dict[str, Any]:
        oldest = await stats.oldest_queued_at(self.database, principal.owner_filter)
        oldest_seconds = _parse_time(oldest) if oldest is not None else None
        waiting = delayed = None
        if principal.is_admin:
            try:
                # The broker may be across the network (Redis, RabbitMQ): off the event loop.
                depths = await asyncio.to_thread(queue_depths, self.broker, self.queue_name)
            except Exception as error:
                log.warning("could not read the depth of queue %s: %s", self.queue_name, error)
                depths = None
            if depths is not None:
                waiting, delayed = depths
        return {
            "name": self.queue_name if principal.is_admin else None,
            "depth": waiting,
            "delayed": delayed,
            "oldest_queued_at": oldest,
            "oldest_age_seconds": None if oldest_seconds is None else round(max(0.0, now - oldest_seconds), 3),
        }

    async def _times(self, owner: str | None, since: str) -> dict[str, Any]:
        count, values = await stats.processing_time_percentiles(self.database, owner, since, dict(PERCENTILES))
        return {"count": count, **values}

    async def active_uploads(self, request: Request) -> Response:
        """Unfinished uploads with their offset as stored right now (the data file's size, which moves
        during a PATCH), the rate over the last minute and the last write."""
        principal = await identify(request)
        limit = _page_size(request.query_params.get("limit"))
        owner = principal.owner_filter
        requested = request.query_params.get("owner")
        if requested:
            if not principal.is_admin and requested != principal.subject:
                return JSONResponse({"items": [], "total": 0, "window_seconds": WINDOW_SECONDS})
            owner = requested
        rows = await listing.active_uploads(self.database, owner, limit)
        total = await listing.count_active_uploads(self.database, owner)
        base = public_base_url(request, self.settings.trust_proxy_headers)
        items = [await self._active(base, row) for row in rows]
        return JSONResponse({"items": items, "total": total, "window_seconds": WINDOW_SECONDS})

    async def _active(self, base: str, row: dict[str, Any]) -> dict[str, Any]:
        upload_id = row["id"]
        rates = self.lifecycle.rates
        try:
            offset = await self.store.offset(upload_id)
            # The file's mtime has the kernel's coarse clock: never before the row's own last change.
            last_activity = max(timestamp(await self.store.last_write(upload_id)), row["updated_at"])
            rates.record(upload_id, offset)
        except (StorageError, OSError):  # removed meanwhile, or on a disk this process cannot see
            offset, last_activity = row["upload_offset"], row["updated_at"]
        return {
            "id": upload_id,
            "owner": row["owner"],
            "filename": row["filename"],
            "offset": offset,
            "length": row["upload_length"],
            "bytes_per_second": round(rates.bytes_per_second(upload_id), 1),
            "last_activity": last_activity,
            "created_at": row["created_at"],
            "upload_url": f"{base}{self.settings.tus_base_path}{upload_id}",
            "url": f"{base}/api/assets/{upload_id}",
        }

    async def me(self, request: Request) -> Response:
        principal = await identify(request)
        usage = await stats.usage(self.database, principal.subject)
        quotas = self.lifecycle.quotas
        exempt = principal.is_admin
        max_bytes = None if exempt or not quotas.max_bytes else quotas.max_bytes
        max_unfinished = None if exempt or not quotas.max_unfinished else quotas.max_unfinished
        return JSONResponse(
            {
                "user": principal.subject,
                "is_admin": principal.is_admin,
                "usage": {
                    "bytes_stored": usage.bytes_stored,
                    "bytes_reserved": usage.bytes_reserved,
                    "uploads": usage.uploads,
                    "unfinished_uploads": usage.unfinished_uploads,
                },
                "quota": {
                    "exempt": exempt,
                    "bytes": max_bytes,
                    "bytes_left": None if max_bytes is None else max(0, max_bytes - usage.bytes_reserved),
                    "unfinished_uploads": max_unfinished,
                },
                # What an upload may be, so a client can say so before it sends anything.
                "limits": {
                    "max_file_size": self.settings.max_file_size,
                    "allowed_types": list(self.settings.allowed_types),
                },
            }
        )
