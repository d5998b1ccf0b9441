"""POST: create an upload (creation), optionally with its first bytes (creation-with-upload)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from app.auth import identify
from app.clock import timestamp
from app.tus.body import declared_body_length, receive_body
from app.tus.context import TusContext
from app.tus.errors import TusError, tus_headers
from app.tus.headers import OFFSET_CONTENT_TYPE, HeaderError, media_type, parse_metadata, parse_non_negative
from app.vocabulary import UploadInfo, new_upload_id


async def create(context: TusContext, request: Request) -> Response:
    principal = await identify(request)
    try:
        length = parse_non_negative("Upload-Length", request.headers.get("upload-length"))
        metadata = parse_metadata(request.headers.get("upload-metadata"))
    except HeaderError as error:
        raise TusError(400, str(error)) from None
    if length > context.max_size:
        raise TusError(
            413,
            f"Upload-Length {length} exceeds the maximum of {context.max_size} bytes",
            {"Tus-Max-Size": str(context.max_size)},
        )

    with_body = media_type(request.headers.get("content-type")) == OFFSET_CONTENT_TYPE
    body_length = declared_body_length(request) if with_body else None
    if body_length is not None and body_length > length:
        raise TusError(413, f"the body ({body_length} bytes) exceeds Upload-Length {length}")

    info = UploadInfo(
        id=new_upload_id(), length=length, owner=principal.subject, metadata=metadata, created_at=timestamp()
    )
    await context.store.create(info)
    try:
        await context.events.created(info)
    except BaseException:
        await context.store.delete(info.id)
        raise

    async with context.locked(info.id):
        offset = await receive_body(context, request, info, 0) if with_body else 0
        if length == 0:
            # Nothing to wait for: an empty file is complete the moment it exists.
            await context.events.completed(info.id, 0)
    return Response(
        status_code=201,
        headers=tus_headers({"Location": context.location(request, info.id), "Upload-Offset": str(offset)}),
    )
