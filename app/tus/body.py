"""Streaming a request body into an upload: shared by PATCH and creation-with-upload."""

from __future__ import annotations

from collections.abc import AsyncIterator

from starlette.requests import ClientDisconnect, Request

from app.tus.context import TusContext
from app.tus.errors import TusError
from app.tus.headers import HeaderError, parse_non_negative
from app.vocabulary import UploadInfo


class _BodyTooLarge(Exception):
    pass


async def _at_most(chunks: AsyncIterator[bytes], limit: int) -> AsyncIterator[bytes]:
    received = 0
    async for chunk in chunks:
        received += len(chunk)
        if received > limit:
            raise _BodyTooLarge
        if chunk:
            yield chunk


def declared_body_length(request: Request) -> int | None:
    if "content-length" not in request.headers:
        return None
    try:
        return parse_non_negative("Content-Length", request.headers["content-length"])
    except HeaderError as error:
        raise TusError(400, str(error)) from None


async def receive_body(context: TusContext, request: Request, info: UploadInfo, offset: int) -> int:
    """Append the request body at ``offset``; returns the new offset. Call with the upload locked.

    A body longer than the upload's remaining length is refused with 413 and stores nothing. A
    dropped connection keeps every byte that arrived.
    """
    remaining = info.length - offset
    declared = declared_body_length(request)
    if declared is not None and declared > remaining:
        raise TusError(413, f"the body ({declared} bytes) exceeds the {remaining} bytes left in this upload")
    if remaining == 0:
        return offset
    try:
        new_offset = await context.store.append(info.id, offset, _at_most(request.stream(), remaining))
    except _BodyTooLarge:
        await context.store.truncate(info.id, offset)
        raise TusError(413, f"the body exceeds the {remaining} bytes left in this upload") from None
    except ClientDisconnect:
        await context.events.progressed(info.id, await context.store.offset(info.id))
        raise
    if new_offset == info.length:
        await context.events.completed(info.id, new_offset)
    elif new_offset != offset:
        await context.events.progressed(info.id, new_offset)
    return new_offset
