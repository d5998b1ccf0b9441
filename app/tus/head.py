"""HEAD: where an upload stands."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from app.auth import identify
from app.tus.context import TusContext
from app.tus.errors import tus_headers
from app.tus.headers import format_metadata


async def head(context: TusContext, request: Request, upload_id: str) -> Response:
    principal = await identify(request)
    async with context.locked(upload_id):
        info = await context.visible_info(upload_id, principal)
        offset = await context.store.offset(upload_id)
    headers = {
        "Upload-Offset": str(offset),
        "Upload-Length": str(info.length),
        "Cache-Control": "no-store",
    }
    if info.metadata:
        headers["Upload-Metadata"] = format_metadata(info.metadata)
    return Response(status_code=200, headers=tus_headers(headers))
