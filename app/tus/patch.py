"""PATCH: append bytes at the upload's current offset."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from app.auth import identify
from app.tus.body import receive_body
from app.tus.context import TusContext
from app.tus.errors import TusError, tus_headers
from app.tus.headers import OFFSET_CONTENT_TYPE, HeaderError, media_type, parse_non_negative


async def patch(context: TusContext, request: Request, upload_id: str) -> Response:
    principal = await identify(request)
    if media_type(request.headers.get("content-type")) != OFFSET_CONTENT_TYPE:
        raise TusError(415, f"PATCH needs Content-Type: {OFFSET_CONTENT_TYPE}")
    try:
        client_offset = parse_non_negative("Upload-Offset", request.headers.get("upload-offset"))
    except HeaderError as error:
        raise TusError(400, str(error)) from None

    async with context.locked(upload_id):
        info = await context.visible_info(upload_id, principal)
        offset = await context.store.offset(upload_id)
        if client_offset != offset:
            raise TusError(409, f"Upload-Offset {client_offset} does not match the upload's offset {offset}")
        new_offset = await receive_body(context, request, info, offset)
    return Response(status_code=204, headers=tus_headers({"Upload-Offset": str(new_offset)}))
