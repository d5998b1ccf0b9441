"""DELETE: end an upload and remove its bytes (termination)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from app.auth import identify
from app.tus.context import TusContext
from app.tus.errors import tus_headers


async def terminate(context: TusContext, request: Request, upload_id: str) -> Response:
    principal = await identify(request)
    async with context.locked_by(principal, upload_id):
        await context.visible_info(upload_id, principal)
        await context.store.delete(upload_id)
        await context.events.terminated(upload_id)
    return Response(status_code=204, headers=tus_headers())
