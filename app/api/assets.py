"""``/api/assets``: what became of each upload.

Everyone sees only the assets their principal may access (see ``app.auth``); another user's asset
answers 404, exactly like one that does not exist.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import TYPE_CHECKING, Any

from databases import Database
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from app.api.filters import FilterError, query_filter
from app.auth import Principal, identify
from app.auth.links import LinkSigner
from app.db import listing, queries
from app.urls import public_base_url
from app.vocabulary import is_valid_upload_id
from config import Settings

if TYPE_CHECKING:
    from app.storage.s3derivatives import BucketDerivatives

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 200
_PAGE_SIZE = re.compile(r"[0-9]{1,19}")


class ApiError(Exception):
    """A refused API request: an HTTP status and a one-line reason, rendered as JSON."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def render_api_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ApiError)
    return JSONResponse({"error": exc.message}, status_code=exc.status)


def _encode_cursor(row: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(f"{row['created_at']}|{row['id']}".encode()).decode().rstrip("=")


def _decode_cursor(cursor: str) -> tuple[str, str]:
    try:
        created_at, upload_id = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode().split("|")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise ApiError(400, "malformed cursor") from None
    return created_at, upload_id


def _page_size(text: str | None) -> int:
    if text is None:
        return DEFAULT_PAGE_SIZE
    # ASCII digits, and few of them: str.isdigit() is true for "²", which int() cannot read, and int()
    # refuses strings of more than 4300 digits.
    if _PAGE_SIZE.fullmatch(text) is None or not 1 <= int(text) <= MAX_PAGE_SIZE:
        raise ApiError(400, f"limit must be a whole number from 1 to {MAX_PAGE_SIZE}")
    return int(text)


class AssetsApi:
    def __init__(
        self,
        database: Database,
        settings: Settings,
        links: LinkSigner,
        bucket_derivatives: BucketDerivatives | None = None,
    ) -> None:
        self.database = database
        self.links = links
        self.derivatives_dir = settings.derivatives_dir
        self.bucket_derivatives = bucket_derivatives
        self.tus_base_path = settings.tus_base_path
        self.trust_proxy_headers = settings.trust_proxy_headers

    def routes(self) -> list[Route]:
        return [
            Route("/api/assets", self.list_assets, methods=["GET"]),
            Route("/api/assets/{upload_id}", self.get_asset, methods=["GET"]),
            Route("/api/assets/{upload_id}/derivatives/{name}", self.get_derivative, methods=["GET"]),
        ]

    async def _visible_row(self, upload_id: str, principal: Principal) -> dict[str, Any]:
        row = await queries.get_upload(self.database, upload_id) if is_valid_upload_id(upload_id) else None
        if row is None or not principal.may_access(row["owner"]):
            raise ApiError(404, "asset not found")
        return row

    def _signed(self, base: str, path: str, principal: Principal) -> str:
        """A link a browser can follow without headers (an <img>, a download), for a while."""
        return f"{base}{path}?{self.links.query(path, principal)}"

    def _describe(self, request: Request, row: dict[str, Any], principal: Principal) -> dict[str, Any]:
        base = public_base_url(request, self.trust_proxy_headers)
        asset_path = f"/api/assets/{row['id']}"
        asset_url = f"{base}{asset_path}"
        derivatives = row["derivatives"] or []
        return {
            "id": row["id"],
            "status": row["status"],
            "error": row["error"],
            "filename": row["filename"],
            "owner": row["owner"],
            "length": row["upload_length"],
            "offset": row["upload_offset"],
            "metadata": row["metadata"],
            "declared_type": row["declared_type"],
            "detected_type": row["detected_type"],
            "format": row["format"],
            "width": row["width"],
            "height": row["height"],
            "duration_seconds": row["duration_seconds"],
            "details": row["details"] or {},
            "attempts": row["attempts"],
            "created_at": row["created_at"],
            "completed_at": row["completed_at"],
            "processed_at": row["processed_at"],
            "processing_time_ms": row["processing_time_ms"],
            "upload_url": f"{base}{self.tus_base_path}{row['id']}",
            "download_url": self._signed(base, f"{self.tus_base_path}{row['id']}", principal),
            "url": asset_url,
            "derivatives": {
                name: self._signed(base, f"{asset_path}/derivatives/{name}", principal) for name in derivatives
            },
        }

    async def get_asset(self, request: Request) -> Response:
        principal = await identify(request)
        row = await self._visible_row(request.path_params["upload_id"], principal)
        events = await queries.list_events(self.database, row["id"])
        return JSONResponse({**self._describe(request, row, principal), "events": events})

    async def list_assets(self, request: Request) -> Response:
        """Filters (see ``app.api.filters``), newest first in cursor pages, with the count of all matches."""
        principal = await identify(request)
        try:
            selection = query_filter(request.query_params, principal)
        except FilterError as error:
            raise ApiError(400, str(error)) from None
        limit = _page_size(request.query_params.get("limit"))
        cursor = request.query_params.get("cursor")
        before = _decode_cursor(cursor) if cursor else None
        if selection is None:  # a user asking for another owner's assets: none are visible
            return JSONResponse({"items": [], "next": None, "total": 0})
        # One extra row tells whether a next page exists without a second query.
        rows = await listing.list_assets(self.database, selection, before=before, limit=limit + 1)
        total = await listing.count_assets(self.database, selection)
        page, more = rows[:limit], len(rows) > limit
        next_url = None
        if more:
            next_url = str(request.url.include_query_params(cursor=_encode_cursor(page[-1]), limit=limit))
        items = [self._describe(request, row, principal) for row in page]
        return JSONResponse({"items": items, "next": next_url, "total": total})

    async def get_derivative(self, request: Request) -> Response:
        principal = await identify(request)
        row = await self._visible_row(request.path_params["upload_id"], principal)
        name = request.path_params["name"]
        # Only names the worker recorded are served, so no name can reach outside the asset's folder.
        if name not in (row["derivatives"] or []):
            raise ApiError(404, "no such derivative")
        cache = {"Cache-Control": "private, max-age=3600"}
        if self.bucket_derivatives is not None:
            found = None
            if row["derivatives_attempt"] is not None:
                found = await self.bucket_derivatives.read(row["id"], row["derivatives_attempt"], name)
            if found is None:
                raise ApiError(404, "derivative missing in the bucket")
            headers = {**cache, "Content-Length": str(found.size)}
            return StreamingResponse(found.chunks, media_type=found.media_type, headers=headers)
        path = self.derivatives_dir / row["id"] / name
        if not path.is_file():
            raise ApiError(404, "derivative missing on disk")
        return FileResponse(path, headers=cache)
