"""Requests in the IETF draft's dialect, recognised by ``Upload-Draft-Interop-Version``, sent to their
handlers; refusals are rendered here, in the draft's terms, never with tus headers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from app.tus.context import TusContext
from app.tus.errors import TusError, storage_errors_as_tus_errors
from app.tus.ietf.creation import create
from app.tus.ietf.fields import upload_limit
from app.tus.ietf.resource import append, cancel, retrieve_offset
from app.tus.ietf.responses import draft_headers, refusal, unsupported_version
from app.tus.ietf.versions import INTEROP_VERSION_HEADER, PARTIAL_UPLOAD_MEDIA_TYPE, InteropVersion, requested_version

UploadHandler = Callable[[TusContext, Request, InteropVersion, str], Awaitable[Response]]
_UPLOAD_HANDLERS: dict[str, UploadHandler] = {"HEAD": retrieve_offset, "PATCH": append, "DELETE": cancel}


def is_draft_request(request: Request) -> bool:
    return INTEROP_VERSION_HEADER in request.headers


async def serve_collection(context: TusContext, request: Request, method: str) -> Response:
    version = requested_version(request.headers)
    if version is None:
        return unsupported_version(request.headers[INTEROP_VERSION_HEADER])
    if method == "OPTIONS":
        return _capabilities(context, version)
    if method != "POST":
        return refusal(version, TusError(405, f"{method} does not create uploads", {"Allow": "OPTIONS, POST"}))
    return await _answered(context, version, lambda: create(context, request, version))


async def serve_upload(context: TusContext, request: Request, method: str, upload_id: str) -> Response:
    version = requested_version(request.headers)
    if version is None:
        return unsupported_version(request.headers[INTEROP_VERSION_HEADER])
    if method == "OPTIONS":
        return _capabilities(context, version)
    handler = _UPLOAD_HANDLERS.get(method)
    if handler is None:
        allow = {"Allow": "OPTIONS, GET, HEAD, PATCH, DELETE"}
        return refusal(version, TusError(405, f"{method} is not allowed on an upload", allow))
    return await _answered(context, version, lambda: handler(context, request, version, upload_id))


def _capabilities(context: TusContext, version: InteropVersion) -> Response:
    # The draft (from -05) answers OPTIONS with Accept-Patch naming its media type, and the limits.
    headers = {"Accept-Patch": PARTIAL_UPLOAD_MEDIA_TYPE}
    if version.has_upload_limit:
        headers.update(upload_limit(context.settings.max_size, None, None))
    return Response(status_code=200, headers=draft_headers(version, headers))


async def _answered(context: TusContext, version: InteropVersion, call: Callable[[], Awaitable[Response]]) -> Response:
    try:
        with storage_errors_as_tus_errors():
            return await call()
    except TusError as refused:
        if refused.status == 413 and version.has_upload_limit:
            # Every size refusal, wherever in the shared code it arose, says what the limit is.
            refused.headers = {**upload_limit(context.settings.max_size, None, None), **refused.headers}
        return refusal(version, refused)
    except ClientDisconnect:
        # Nobody is listening any more; the bytes that arrived are kept and recorded.
        return Response(status_code=400)
