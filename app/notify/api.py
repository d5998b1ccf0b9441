"""The live stream's endpoints and the admin's view of webhook deliveries.

``GET /api/events`` (Server-Sent Events, see ``stream``) and ``GET /api/events/link`` (a signed URL of
it, for a browser's ``EventSource``, which cannot send headers); ``GET /api/webhooks/deliveries`` and
``POST /api/webhooks/deliveries/{id}/redeliver``, for admins only.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from databases import Database
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.api.assets import ApiError
from app.auth import Principal, identify, require_admin
from app.auth.links import LinkSigner
from app.db import queries
from app.notify import deliveries
from app.notify.stream import Wakeups, event_stream, latest_event_id, parse_event_id
from app.notify.webhook_format import webhook_id
from app.urls import public_base_url
from app.vocabulary import is_valid_upload_id
from config import Settings

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
_NUMBER = re.compile(r"[0-9]{1,18}")

Kick = Callable[[str], Awaitable[None]]


def _number(text: str | None, name: str, default: int | None, maximum: int | None = None) -> int | None:
    if text is None:
        return default
    if _NUMBER.fullmatch(text) is None or int(text) < 1 or (maximum is not None and int(text) > maximum):
        limit = f" from 1 to {maximum}" if maximum else ""
        raise ApiError(400, f"{name} must be a whole number{limit}")
    return int(text)


class NotifyApi:
    def __init__(self, database: Database, settings: Settings, links: LinkSigner, wakeups: Wakeups, kick: Kick) -> None:
        self.database = database
        self.links = links
        self.wakeups = wakeups
        self.kick = kick
        self.heartbeat_seconds = settings.event_stream_heartbeat_seconds
        self.trust_proxy_headers = settings.trust_proxy_headers

    def routes(self) -> list[Route]:
        return [
            Route("/api/events", self.events, methods=["GET"]),
            Route("/api/events/link", self.events_link, methods=["GET"]),
            Route("/api/webhooks/deliveries", self.list_deliveries, methods=["GET"]),
            Route("/api/webhooks/deliveries/{delivery_id}/redeliver", self.redeliver, methods=["POST"]),
        ]

    async def _asset_filter(self, request: Request, principal: Principal) -> str | None:
        upload_id = request.query_params.get("asset")
        if upload_id is None:
            return None
        row = await queries.get_upload(self.database, upload_id) if is_valid_upload_id(upload_id) else None
        if row is None or not principal.may_access(row["owner"]):
            raise ApiError(404, "asset not found")
        return upload_id

    async def events(self, request: Request) -> Response:
        principal = await identify(request)
        upload_id = await self._asset_filter(request, principal)
        given = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
        after = parse_event_id(given)
        if given is not None and after is None:
            raise ApiError(400, "Last-Event-ID must be an event id from this stream")
        if after is None:
            after = await latest_event_id(self.database)  # from now on
        return event_stream(
            self.database,
            self.wakeups,
            after,
            owner=principal.owner_filter,
            upload_id=upload_id,
            heartbeat_seconds=self.heartbeat_seconds,
        )

    async def events_link(self, request: Request) -> Response:
        principal = await identify(request)
        upload_id = await self._asset_filter(request, principal)
        path = "/api/events"
        query = self.links.query(path, principal)
        if upload_id is not None:
            query = f"{urlencode({'asset': upload_id})}&{query}"
        base = public_base_url(request, self.trust_proxy_headers)
        # Where the stream stands now: a page that loads its list after this and then opens the stream
        # with it as Last-Event-ID misses nothing committed in between.
        position = await latest_event_id(self.database)
        return JSONResponse({"url": f"{base}{path}?{query}", "last_event_id": str(position)})

    async def list_deliveries(self, request: Request) -> Response:
        require_admin(await identify(request))
        params = request.query_params
        status = params.get("status")
        if status is not None and status not in deliveries.STATUSES:
            raise ApiError(400, f"unknown status {status[:40]!r}; use one of {', '.join(deliveries.STATUSES)}")
        upload_id = params.get("asset")
        if upload_id is not None and not is_valid_upload_id(upload_id):
            raise ApiError(400, "malformed asset id")
        limit = _number(params.get("limit"), "limit", DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        assert limit is not None
        before = _number(params.get("before"), "before", None)
        rows = await deliveries.list_deliveries(
            self.database, status=status, upload_id=upload_id, before_id=before, limit=limit + 1
        )
        page, more = rows[:limit], len(rows) > limit
        next_url = str(request.url.include_query_params(before=page[-1]["id"], limit=limit)) if more else None
        return JSONResponse({"items": [_describe(row) for row in page], "next": next_url})

    async def redeliver(self, request: Request) -> Response:
        require_admin(await identify(request))
        delivery_id = _number(request.path_params["delivery_id"], "delivery id", None)
        assert delivery_id is not None
        row = await deliveries.redeliver(self.database, delivery_id)
        if row is None:
            if await deliveries.delivery_exists(self.database, delivery_id):
                raise ApiError(409, "an attempt at this delivery is under way; try again when it has ended")
            raise ApiError(404, "delivery not found")
        await self.kick(row["upload_id"])
        listed = await deliveries.list_deliveries(
            self.database, status=None, upload_id=row["upload_id"], before_id=delivery_id + 1, limit=1
        )
        return JSONResponse(_describe(listed[0]), status_code=202)


def _describe(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "webhook_id": webhook_id({"upload_id": row["upload_id"], "id": row["event_id"]}),
        "event_id": row["event_id"],
        "type": row["type"],
        "asset_id": row["upload_id"],
        "endpoint": row["endpoint"],
        "status": row["status"],
        "attempts": row["attempts"],
        "created_at": row["created_at"],
        "next_attempt_at": row["next_attempt_at"] if row["status"] == deliveries.PENDING else None,
        "last_status_code": row["last_status_code"],
        "last_error": row["last_error"],
        "delivered_at": row["delivered_at"],
        "attempt_log": [
            {
                "attempt": attempt["attempt"],
                "at": attempt["at"],
                "status_code": attempt["status_code"],
                "error": attempt["error"],
                "duration_ms": attempt["duration_ms"],
            }
            for attempt in row["attempts_made"]
        ],
    }
