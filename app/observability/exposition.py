"""``/metrics``: the registry in Prometheus's text format, for admins only.

The figures say how busy the service is and what fails, which is nobody else's business, so a
scraper authenticates with an admin token like any other admin client.
"""

from __future__ import annotations

import asyncio

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from app.auth import identify
from app.observability.metrics import REGISTRY


async def metrics(request: Request) -> Response:
    principal = await identify(request)
    if not principal.is_admin:
        return PlainTextResponse("metrics are for admins only\n", status_code=403)
    # In a thread: the queue depth is asked of the broker, whose clients block.
    body = await asyncio.to_thread(generate_latest, REGISTRY)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def metrics_routes() -> list[Route]:
    return [Route("/metrics", metrics, methods=["GET"])]
