"""The tus endpoints: the collection (``/files`` and ``/files/``) and one resource per upload."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import Route

from app.tus.context import TusContext
from app.tus.creation import create
from app.tus.download import download
from app.tus.errors import TusError, storage_errors_as_tus_errors
from app.tus.head import head
from app.tus.headers import TUS_RESUMABLE
from app.tus.ietf import is_draft_request, serve_collection, serve_upload
from app.tus.options import options
from app.tus.patch import patch
from app.tus.termination import terminate

# Every method is routed to our own dispatch, so even a 405 carries Tus-Resumable.
_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
ResourceHandler = Callable[[TusContext, Request, str], Awaitable[Response]]
_RESOURCE_HANDLERS: dict[str, ResourceHandler] = {"HEAD": head, "PATCH": patch, "DELETE": terminate, "GET": download}


def _method(request: Request) -> str:
    """The request's method, or the one X-HTTP-Method-Override names for clients behind proxies that
    pass only GET and POST."""
    override = request.headers.get("x-http-method-override")
    if override and request.method in ("POST", "GET"):
        return override.strip().upper()
    return request.method


def _require_tus_resumable(request: Request, method: str) -> None:
    # Browsers download with a plain GET, so GET is exempt like OPTIONS.
    if method not in ("OPTIONS", "GET") and request.headers.get("tus-resumable") != TUS_RESUMABLE:
        raise TusError(412, f"this server speaks tus {TUS_RESUMABLE}; send Tus-Resumable: {TUS_RESUMABLE}")


def _speaks_ietf_draft(request: Request, method: str) -> bool:
    # The IETF draft's clients send Upload-Draft-Interop-Version instead of Tus-Resumable. A download
    # is a plain GET in either protocol, so it stays with the tus handler.
    return method != "GET" and is_draft_request(request)


async def _guarded(call: Callable[[], Awaitable[Response]]) -> Response:
    try:
        with storage_errors_as_tus_errors():
            return await call()
    except ClientDisconnect:
        # Nobody is listening any more; the bytes that arrived are kept and recorded.
        return Response(status_code=400)


def tus_routes(context: TusContext) -> list[Route]:
    async def collection(request: Request) -> Response:
        method = _method(request)
        if _speaks_ietf_draft(request, method):
            return await serve_collection(context, request, method)
        if method == "OPTIONS":
            return await options(context, request)
        _require_tus_resumable(request, method)
        if method == "POST":
            return await _guarded(lambda: create(context, request))
        raise TusError(405, f"{method} is not allowed on the upload collection", {"Allow": "OPTIONS, POST"})

    async def resource(request: Request) -> Response:
        method = _method(request)
        if _speaks_ietf_draft(request, method):
            return await serve_upload(context, request, method, request.path_params["upload_id"])
        if method == "OPTIONS":
            return await options(context, request)
        _require_tus_resumable(request, method)
        handler = _RESOURCE_HANDLERS.get(method)
        if handler is None:
            allow = {"Allow": "OPTIONS, GET, HEAD, PATCH, DELETE"}
            raise TusError(405, f"{method} is not allowed on an upload", allow)
        upload_id = request.path_params["upload_id"]
        return await _guarded(lambda: handler(context, request, upload_id))

    async def elsewhere(request: Request) -> Response:
        # Paths below the base that name no upload (for example an id with a slash in it).
        raise TusError(404, "upload not found")

    base = context.settings.base_path
    return [
        Route(base.rstrip("/"), collection, methods=_ALL_METHODS),
        Route(base, collection, methods=_ALL_METHODS),
        Route(base + "{upload_id}", resource, methods=_ALL_METHODS),
        Route(base + "{rest:path}", elsewhere, methods=_ALL_METHODS),
    ]
