"""Per request: an id, the request metrics, and one access log line.

A pure ASGI middleware rather than Starlette's ``BaseHTTPMiddleware``, which would run the app in a
task of its own and get in the way of streamed upload bodies. It wraps ``receive`` (to count body
bytes) and ``send`` (to learn the status and add ``X-Request-ID``), and nothing else.

The access log holds the method, the path without its query string (signed links carry their
signatures there), the status, the duration, the body bytes received and, through the log filter,
the request id. Never a header: they carry tokens.
"""

from __future__ import annotations

import logging
import os
import re
import time

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.observability import metrics
from app.observability.logs import request_id

access_log = logging.getLogger("tusmedia.access")

REQUEST_ID_HEADER = "x-request-id"
# A client's id is kept only if it is a short plain token, so it is safe to log and to echo.
SANE_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
# Answered before routing (a CORS preflight, a refused credential) or matching no route at all.
UNMATCHED_ROUTE = "unrouted"
# Probes and scrapes arrive every few seconds; at INFO their lines would drown the requests that matter.
QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})


def incoming_request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            candidate = value.decode("latin-1")
            if SANE_REQUEST_ID.fullmatch(candidate):
                return candidate
            break
    return os.urandom(16).hex()  # as random as uuid4().hex, without building a UUID


def route_template(scope: Scope) -> str:
    """The matched route's path template (``/files/{upload_id}``), never the raw path: ids in the
    labels would make a new time series per upload."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else UNMATCHED_ROUTE


class ObservedRequests:
    def __init__(self, app: ASGIApp, upload_path: str) -> None:
        self.app = app
        self.upload_path = upload_path.rstrip("/")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        # Left set when the request ends: its task, and the context copy it runs in, end with it, and
        # the 500 handler outside this middleware still logs with the id.
        current_id = incoming_request_id(scope)
        request_id.set(current_id)
        received = 0
        status = 500  # what the client gets if the app raises before answering
        is_upload = scope["path"].startswith(self.upload_path)
        receiving_upload = False

        async def counting_receive() -> Message:
            nonlocal received, receiving_upload
            message = await receive()
            size = len(message.get("body", b""))
            received += size
            if size and is_upload and not receiving_upload:
                receiving_upload = True
                metrics.UPLOADS_ACTIVE.inc()
            return message

        async def identified_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message.setdefault("headers", [])
                MutableHeaders(scope=message)[REQUEST_ID_HEADER] = current_id
            await send(message)

        try:
            await self.app(scope, counting_receive, identified_send)
        finally:
            if receiving_upload:
                metrics.UPLOADS_ACTIVE.dec()
            self._record(scope, status, time.perf_counter() - started, received)

    @staticmethod
    def _record(scope: Scope, status: int, seconds: float, received: int) -> None:
        route, method = route_template(scope), scope["method"]
        metrics.HTTP_REQUESTS.labels(route, method, str(status)).inc()
        metrics.HTTP_REQUEST_DURATION.labels(route, method).observe(seconds)
        if received:
            metrics.HTTP_RECEIVED_BYTES.labels(route, method).inc(received)
        path = scope["path"]  # the ASGI path never holds the query string
        duration_ms = round(seconds * 1000, 1)
        access_log.log(
            logging.DEBUG if path in QUIET_PATHS else logging.INFO,
            "%s %s %d %.1f ms %d bytes in",
            method,
            path,
            status,
            duration_ms,
            received,
            extra={
                "fields": {
                    "method": method,
                    "path": path,
                    "status": status,
                    "duration_ms": duration_ms,
                    "bytes_in": received,
                }
            },
        )
