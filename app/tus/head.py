"""HEAD: where an upload stands."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from app.auth import Principal, identify
from app.tus.completion import assemble_if_ready
from app.tus.concatenation import concat_header
from app.tus.context import TusContext
from app.tus.errors import tus_headers
from app.tus.headers import format_metadata
from app.vocabulary import UploadInfo


async def head(context: TusContext, request: Request, upload_id: str) -> Response:
    principal = await identify(request)
    info, headers = await _state(context, upload_id, principal)
    if info.is_final and "Upload-Offset" not in headers:
        # Normally the last part to finish assembles its final upload; this catches one that could not.
        await assemble_if_ready(context, upload_id)
        info, headers = await _state(context, upload_id, principal)
    return Response(status_code=200, headers=tus_headers(headers))


async def _state(context: TusContext, upload_id: str, principal: Principal) -> tuple[UploadInfo, dict[str, str]]:
    async with context.locked_by(principal, upload_id):
        info, offset = await context.live_upload(upload_id, principal)
        headers = {"Cache-Control": "no-store", **concat_header(context, info)}
        if info.length is None:
            headers["Upload-Defer-Length"] = "1"
        else:
            headers["Upload-Length"] = str(info.length)
        # A final upload has no meaningful offset until its parts are joined.
        if not info.is_final or info.is_complete_at(offset):
            headers["Upload-Offset"] = str(offset)
        if info.metadata:
            headers["Upload-Metadata"] = format_metadata(info.metadata)
        headers.update(await context.expiry_headers(info, offset))
    return info, headers
