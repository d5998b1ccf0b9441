"""PATCH: append bytes at the upload's current offset."""

from __future__ import annotations

import dataclasses

from starlette.requests import Request
from starlette.responses import Response

from app.auth import identify
from app.tus.body import declared_body_length, receive_body
from app.tus.checksum import parse_upload_checksum
from app.tus.context import TusContext
from app.tus.errors import TusError, offset_mismatch, tus_headers
from app.tus.headers import OFFSET_CONTENT_TYPE, HeaderError, media_type, parse_non_negative
from app.vocabulary import UploadInfo


async def patch(context: TusContext, request: Request, upload_id: str) -> Response:
    principal = await identify(request)
    if media_type(request.headers.get("content-type")) != OFFSET_CONTENT_TYPE:
        raise TusError(415, f"PATCH needs Content-Type: {OFFSET_CONTENT_TYPE}")
    try:
        client_offset = parse_non_negative("Upload-Offset", request.headers.get("upload-offset"))
        checksum = parse_upload_checksum(request.headers.get("upload-checksum"))
        new_length = (
            parse_non_negative("Upload-Length", request.headers["upload-length"])
            if "upload-length" in request.headers
            else None
        )
    except HeaderError as error:
        raise TusError(400, str(error)) from None

    async with context.locked_by(principal, upload_id) as holder:
        info, offset = await context.live_upload(upload_id, principal, appending=True)
        if client_offset != offset:
            raise offset_mismatch(client_offset, offset)
        if new_length is not None:
            info = await _settle_length(context, request, info, offset, new_length)
        new_offset = await receive_body(context, request, holder, info, offset, checksum)
        headers = {"Upload-Offset": str(new_offset), **await context.expiry_headers(info, new_offset)}
    return Response(status_code=204, headers=tus_headers(headers))


async def _settle_length(
    context: TusContext, request: Request, info: UploadInfo, offset: int, length: int
) -> UploadInfo:
    """creation-defer-length: the first PATCH that knows the length says it, once."""
    if info.length is not None:
        raise TusError(400, "Upload-Length is already set for this upload and cannot change")
    if length < offset:
        raise TusError(400, f"Upload-Length {length} is below the {offset} bytes already uploaded")
    if length > context.settings.max_size:
        raise TusError(413, f"Upload-Length {length} exceeds the maximum of {context.settings.max_size} bytes")
    declared = declared_body_length(request)
    if declared is not None and offset + declared > length:
        raise TusError(413, f"the body ({declared} bytes) would pass the Upload-Length of {length}")
    settled = dataclasses.replace(info, length=length)
    await context.store.update_info(settled)
    return settled
