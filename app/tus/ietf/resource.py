"""The upload resource: offset retrieval (HEAD), appending (PATCH) and cancellation (DELETE)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from app.auth import identify
from app.tus.body import carries_body, receive_body
from app.tus.context import TusContext
from app.tus.errors import TusError
from app.tus.headers import HeaderError, media_type, parse_non_negative
from app.tus.ietf.length import agreed_length, close_upload, record_length
from app.tus.ietf.responses import UploadProblem, draft_headers
from app.tus.ietf.state import state_headers
from app.tus.ietf.versions import COMPLETED_UPLOAD, MISMATCHING_OFFSET, PARTIAL_UPLOAD_MEDIA_TYPE, InteropVersion
from app.vocabulary import UploadInfo


async def retrieve_offset(context: TusContext, request: Request, version: InteropVersion, upload_id: str) -> Response:
    principal = await identify(request)
    # Under the lock, like every tus HEAD: a stalled append is handed over, so the offset is current.
    async with context.locked_by(principal, upload_id):
        info, offset = await context.live_upload(upload_id, principal)
        headers = await state_headers(context, version, info, offset)
    # 204 is what interop versions 3 and 4 require, and what later versions show in their examples.
    return Response(status_code=204, headers=draft_headers(version, {"Cache-Control": "no-store", **headers}))


async def append(context: TusContext, request: Request, version: InteropVersion, upload_id: str) -> Response:
    principal = await identify(request)
    content_type = media_type(request.headers.get("content-type"))
    if version.requires_partial_upload_media_type and content_type != PARTIAL_UPLOAD_MEDIA_TYPE:
        raise TusError(415, f"interop version {version.number} appends with Content-Type: {PARTIAL_UPLOAD_MEDIA_TYPE}")
    try:
        client_offset = parse_non_negative("Upload-Offset", request.headers.get("upload-offset"))
    except HeaderError as error:
        raise TusError(400, str(error)) from None
    complete = version.says_complete(request.headers)

    async with context.locked_by(principal, upload_id) as holder:
        info, offset = await context.live_upload(upload_id, principal, appending=True)
        if client_offset != offset:
            raise _mismatch(client_offset, offset)
        if info.is_complete_at(offset):
            return await _append_to_complete(context, request, version, info, offset, complete)
        length = agreed_length(context, request, info.length, offset, complete)
        info = await record_length(context, info, length)
        new_offset = await receive_body(context, request, holder, info, offset, None)
        if complete:
            info = await close_upload(context, info, new_offset)
        headers = await state_headers(context, version, info, new_offset)
    return Response(status_code=204, headers=draft_headers(version, headers))


async def cancel(context: TusContext, request: Request, version: InteropVersion, upload_id: str) -> Response:
    principal = await identify(request)
    async with context.locked_by(principal, upload_id):
        await context.visible_info(upload_id, principal)
        await context.store.delete(upload_id)
        await context.events.terminated(upload_id)
    return Response(status_code=204, headers=draft_headers(version))


def _mismatch(provided: int, expected: int) -> UploadProblem:
    return UploadProblem(
        409,
        f"Upload-Offset {provided} does not match the upload's offset {expected}",
        MISMATCHING_OFFSET,
        {"expected-offset": expected, "provided-offset": provided},
        {"Upload-Offset": str(expected)},
    )


async def _append_to_complete(
    context: TusContext, request: Request, version: InteropVersion, info: UploadInfo, offset: int, complete: bool
) -> Response:
    """An append to an upload that has all its bytes. Its length was known, so its last byte finished
    it even if that request said "not complete yet"; an empty request that now says "complete" is the
    client catching up, and is answered as if it had completed the upload. Anything else is refused."""
    if complete and not carries_body(request):
        headers = await state_headers(context, version, info, offset)
        return Response(status_code=204, headers=draft_headers(version, headers))
    raise UploadProblem(400, "the upload is already complete and takes no more bytes", COMPLETED_UPLOAD)
