"""POST: create an upload (creation), with its first bytes (creation-with-upload), its length to
come later (creation-defer-length), or as a part or the whole of a concatenation."""

from __future__ import annotations

import contextlib

from starlette.requests import Request
from starlette.responses import Response

from app.auth import Principal, identify
from app.clock import timestamp
from app.storage import StorageError
from app.tus.body import carries_body, declared_body_length, receive_body
from app.tus.checksum import parse_upload_checksum
from app.tus.completion import finish
from app.tus.concatenation import check_parts, concat_header, link_parts, parse_final
from app.tus.context import TusContext
from app.tus.errors import TusError, tus_headers
from app.tus.events import UploadRefused
from app.tus.headers import (
    OFFSET_CONTENT_TYPE,
    HeaderError,
    media_type,
    parse_metadata,
    parse_non_negative,
    refuse_oversized,
)
from app.vocabulary import Concat, UploadInfo, new_upload_id


def _declared_length(request: Request) -> int | None:
    """Upload-Length, or None with ``Upload-Defer-Length: 1``; exactly one of the two."""
    deferred = request.headers.get("upload-defer-length")
    if deferred is not None:
        if deferred.strip() != "1":
            raise HeaderError("Upload-Defer-Length must be 1")
        if "upload-length" in request.headers:
            raise HeaderError("send either Upload-Length or Upload-Defer-Length, not both")
        return None
    return parse_non_negative("Upload-Length", request.headers.get("upload-length"))


async def create(context: TusContext, request: Request) -> Response:
    principal = await identify(request)
    with_body = carries_body(request)
    if with_body and media_type(request.headers.get("content-type")) != OFFSET_CONTENT_TYPE:
        raise TusError(415, f"a POST with a body (creation-with-upload) needs Content-Type: {OFFSET_CONTENT_TYPE}")
    concat_value = request.headers.get("upload-concat", "").strip()
    try:
        raw_metadata = request.headers.get("upload-metadata")
        refuse_oversized("Upload-Metadata", raw_metadata, context.settings.max_metadata_size)
        metadata = parse_metadata(raw_metadata)
        checksum = parse_upload_checksum(request.headers.get("upload-checksum"))
        if concat_value.startswith("final;"):
            return await _create_final(context, request, principal, metadata, concat_value, with_body)
        if concat_value not in ("", "partial"):
            raise HeaderError("Upload-Concat must be 'partial' or 'final;<upload URLs>'")
        length = _declared_length(request)
    except HeaderError as error:
        raise TusError(400, str(error)) from None
    if length is not None and length > context.settings.max_size:
        raise _too_large(context, length)

    body_length = declared_body_length(request)
    if body_length is not None and length is not None and body_length > length:
        raise TusError(413, f"the body ({body_length} bytes) exceeds Upload-Length {length}")

    concat = Concat.PARTIAL if concat_value == "partial" else None
    info = await new_upload(context, principal, length, metadata, concat)
    location = context.location(request, info.id)
    try:
        async with context.locked(info.id) as holder:
            if with_body:
                offset = await receive_body(context, request, holder, info, 0, checksum)
            else:
                offset = 0
                if length == 0:
                    # Nothing to wait for: an empty file is complete the moment it exists.
                    await finish(context, info)
            headers = {"Location": location, "Upload-Offset": str(offset), **await context.expiry_headers(info, offset)}
    except TusError as refused:
        await say_where_it_stands(context, refused, info.id, location)
        raise
    return Response(status_code=201, headers=tus_headers(headers))


async def say_where_it_stands(context: TusContext, refused: TusError, upload_id: str, location: str) -> None:
    """A refusal after the upload was created (a body refused, cut off or over its time) still names
    the upload and its offset, so the client resumes it instead of leaving an orphan behind."""
    refused.headers.setdefault("Location", location)
    with contextlib.suppress(StorageError):
        refused.headers.setdefault("Upload-Offset", str(await context.store.offset(upload_id)))


async def _create_final(
    context: TusContext,
    request: Request,
    principal: Principal,
    metadata: dict[str, str],
    concat_value: str,
    with_body: bool,
) -> Response:
    if with_body:
        raise TusError(400, "a final upload takes no body: its bytes are its parts'")
    for name in ("Upload-Length", "Upload-Defer-Length"):
        if name in request.headers:
            raise TusError(400, f"a final upload takes no {name}: its length is the sum of its parts'")
    part_ids = parse_final(context, concat_value)
    length = await check_parts(context, part_ids, principal)
    if length > context.settings.max_size:
        raise _too_large(context, length)
    info = await new_upload(context, principal, length, metadata, Concat.FINAL, tuple(part_ids))
    await link_parts(context, info)
    headers = {"Location": context.location(request, info.id), **concat_header(context, info)}
    return Response(status_code=201, headers=tus_headers(headers))


async def new_upload(
    context: TusContext,
    principal: Principal,
    length: int | None,
    metadata: dict[str, str],
    concat: Concat | None,
    parts: tuple[str, ...] = (),
) -> UploadInfo:
    """A new upload in the store and, through the events, in the application. The application may
    refuse it first (quotas, a policy hook), and then nothing is created."""
    try:
        metadata = await context.events.admit(principal.subject, principal.is_admin, length, metadata, concat)
    except UploadRefused as refused:
        raise TusError(refused.status, refused.message) from None
    info = UploadInfo(
        id=new_upload_id(),
        length=length,
        owner=principal.subject,
        metadata=metadata,
        created_at=timestamp(),
        concat=concat,
        parts=parts,
    )
    await context.store.create(info)
    try:
        await context.events.created(info)
    except BaseException:
        await context.store.delete(info.id)
        raise
    return info


def _too_large(context: TusContext, length: int) -> TusError:
    maximum = context.settings.max_size
    return TusError(
        413, f"Upload-Length {length} exceeds the maximum of {maximum} bytes", {"Tus-Max-Size": str(maximum)}
    )
