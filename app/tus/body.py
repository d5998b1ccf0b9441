"""Streaming a request body into an upload: shared by PATCH and creation-with-upload."""

from __future__ import annotations

import errno
from collections.abc import AsyncIterator

from starlette.requests import ClientDisconnect, Request

from app.storage import BodyRefused, StorageUnavailable
from app.tus.checksum import ExpectedChecksum, hashed
from app.tus.completion import finish
from app.tus.context import TusContext
from app.tus.errors import TusError
from app.tus.headers import HeaderError, parse_non_negative
from app.tus.locks import BodyInterrupted, LockHolder
from app.vocabulary import UploadInfo

CHECKSUM_MISMATCH = 460


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


def carries_body(request: Request) -> bool:
    """Whether the request has body bytes: a non-zero Content-Length, or a chunked body."""
    declared = declared_body_length(request)
    if declared is not None:
        return declared > 0
    return "transfer-encoding" in request.headers


def room_left(context: TusContext, info: UploadInfo, offset: int) -> int:
    """How many more bytes the upload takes: up to its length, or the size limit while deferred."""
    return (info.length if info.length is not None else context.settings.max_size) - offset


async def receive_body(
    context: TusContext,
    request: Request,
    holder: LockHolder,
    info: UploadInfo,
    offset: int,
    checksum: ExpectedChecksum | None,
) -> int:
    """Append the request body at ``offset``; returns the new offset. Call with the upload locked.

    A body longer than the room left is refused with 413, and one whose checksum does not match
    with 460; either way nothing of it stays stored. A dropped connection, a body interrupted for
    another request or a shutdown, a client silent for ``network_timeout`` and a full disk all keep
    every byte that arrived, unless the body carried a checksum, which can then never be verified:
    such a body is staged beside the upload and joins it only once it matches, so not even a crash
    can leave unverified bytes in it.
    """
    room = room_left(context, info, offset)
    declared = declared_body_length(request)
    if declared is not None and declared > room:
        raise TusError(413, f"the body ({declared} bytes) exceeds the {room} bytes left in this upload")
    chunks = _at_most(holder.read(request.stream(), context.settings.network_timeout_seconds), room)
    try:
        new_offset = await _append(context, info, offset, chunks, checksum, length_declared=declared is not None)
    except _BodyTooLarge:
        await context.store.truncate(info.id, offset)
        raise TusError(413, f"the body exceeds the {room} bytes left in this upload") from None
    except ClientDisconnect:
        await _keep_what_arrived(context, info, offset, checksum)
        raise
    except BodyInterrupted as interrupted:
        kept = await _keep_what_arrived(context, info, offset, checksum)
        interruption = interrupted.interruption
        raise TusError(interruption.status, interruption.reason, {"Upload-Offset": str(kept)}) from None
    except StorageUnavailable as failure:
        # The bytes that reached the bucket are kept; the client asks (HEAD) where to resume.
        raise TusError(503, f"{failure}; resume from the offset HEAD reports", {"Retry-After": "5"}) from None
    except OSError as error:
        kept = await _keep_what_arrived(context, info, offset, checksum)
        if error.errno in (errno.ENOSPC, errno.EDQUOT):
            reason = f"the server's disk is full; {kept} bytes of this upload are kept, resume when there is room"
            raise TusError(507, reason, {"Upload-Offset": str(kept)}) from None
        raise TusError(500, f"the server could not store the body ({error.strerror}); {kept} bytes are kept") from None
    if info.is_complete_at(new_offset):
        await finish(context, info)
    elif new_offset != offset:
        await context.events.progressed(info, new_offset)
    return new_offset


async def _append(
    context: TusContext,
    info: UploadInfo,
    offset: int,
    chunks: AsyncIterator[bytes],
    checksum: ExpectedChecksum | None,
    *,
    length_declared: bool,
) -> int:
    if checksum is None:
        if context.store.can_truncate or length_declared:
            return await context.store.append(info.id, offset, chunks)
        # A body of unknown length may turn out too long once part of it is stored; a store that
        # cannot cut back takes it staged instead, so a refused one leaves the upload as it was.
        return await context.store.append_verified(info.id, offset, chunks, lambda: True)
    digest = checksum.start()
    try:
        return await context.store.append_verified(
            info.id, offset, hashed(chunks, digest), lambda: digest.digest() == checksum.digest
        )
    except BodyRefused:
        raise TusError(CHECKSUM_MISMATCH, f"the body does not match its {checksum.algorithm} checksum") from None


async def _keep_what_arrived(
    context: TusContext, info: UploadInfo, offset: int, checksum: ExpectedChecksum | None
) -> int:
    """The body ended early: keep its bytes (a checksummed one was only staged, and is gone); the new
    offset."""
    if checksum is not None:
        return offset
    kept = await context.store.offset(info.id)
    if kept != offset:
        await context.events.progressed(info, kept)
    return kept
