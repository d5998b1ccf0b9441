"""Acting on assets through the API: reprocessing (admins only) and deleting (the owner or an admin).

A delete does what the tus DELETE does, under the upload's lock: the bytes from the store, then the
row, its history and its derivatives through the lifecycle. A reprocess puts ``failed`` or ``ready``
rows back to ``queued`` (``queries.requeue``, which marks them long-queued) and sends their jobs; a
job that cannot be sent stays long-queued, so the recovery sweep sends it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging

from databases import Database
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from app.api.assets import ApiError
from app.api.filters import FilterError, body_filter
from app.assets.lifecycle import UploadLifecycle
from app.auth import Principal, identify, require_admin
from app.db import listing, queries
from app.storage import UploadNotFound
from app.tus.context import TusContext
from app.tus.errors import TusError
from app.vocabulary import AssetStatus, is_valid_upload_id

log = logging.getLogger(__name__)

# One bulk request requeues at most this many assets; send it again for the rest.
MAX_BULK = 10_000
MAX_BODY_BYTES = 64 * 1024
REPROCESSABLE = (AssetStatus.FAILED, AssetStatus.READY)


class AdminApi:
    def __init__(self, database: Database, tus: TusContext, lifecycle: UploadLifecycle) -> None:
        self.database = database
        self.tus = tus
        self.lifecycle = lifecycle

    def routes(self) -> list[Route]:
        return [
            Route("/api/assets/reprocess", self.reprocess_matching, methods=["POST"]),
            Route("/api/assets/{upload_id}/reprocess", self.reprocess_one, methods=["POST"]),
            Route("/api/assets/{upload_id}", self.delete_asset, methods=["DELETE"]),
        ]

    async def reprocess_one(self, request: Request) -> Response:
        principal = await identify(request)
        require_admin(principal)
        upload_id = request.path_params["upload_id"]
        row = await queries.get_upload(self.database, upload_id) if is_valid_upload_id(upload_id) else None
        if row is None:
            raise ApiError(404, "asset not found")
        requeued = await self._requeue([upload_id], principal)
        if not requeued:
            raise ApiError(409, f"the asset is {row['status']}; only failed or ready assets are reprocessed")
        return JSONResponse({"queued": len(requeued), "ids": requeued}, status_code=202)

    async def reprocess_matching(self, request: Request) -> Response:
        """Every failed or ready asset matching the body's filter (the listing's names, plus ``ids``)."""
        principal = await identify(request)
        require_admin(principal)
        body = await request.body()
        if len(body) > MAX_BODY_BYTES:
            raise ApiError(413, f"the filter must be at most {MAX_BODY_BYTES} bytes")
        try:
            filters = json.loads(body) if body.strip() else None
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "the body must be a JSON object of filters") from None
        if not filters:
            raise ApiError(400, 'name at least one filter, for example {"status": "failed"}')
        try:
            selection = body_filter(filters, principal)
        except FilterError as error:
            raise ApiError(400, str(error)) from None
        assert selection is not None  # an admin's filter can always match something
        if not selection.statuses:
            selection = dataclasses.replace(selection, statuses=REPROCESSABLE)
        ids = await listing.matching_ids(self.database, selection, MAX_BULK)
        requeued = await self._requeue(ids, principal) if ids else []
        return JSONResponse({"queued": len(requeued), "ids": requeued}, status_code=202)

    async def _requeue(self, upload_ids: list[str], principal: Principal) -> list[str]:
        requeued: list[str] = []
        for start in range(0, len(upload_ids), 500):
            batch = upload_ids[start : start + 500]
            requeued += await queries.requeue(self.database, batch, f"reprocess requested by {principal.subject}")
        sent: list[str] = []
        for upload_id in requeued:
            try:
                await self.lifecycle.dispatch(upload_id)
            except Exception:
                log.exception("could not send process_media(%s); the recovery sweep will", upload_id)
                continue
            sent.append(upload_id)
        await listing.mark_sent(self.database, sent)
        return requeued

    async def _visible(self, upload_id: str, principal: Principal) -> None:
        row = await queries.get_upload(self.database, upload_id) if is_valid_upload_id(upload_id) else None
        if row is None or not principal.may_access(row["owner"]):
            raise ApiError(404, "asset not found")

    async def delete_asset(self, request: Request) -> Response:
        principal = await identify(request)
        upload_id = request.path_params["upload_id"]
        # Visible first: another user's delete must not take over (or wait for) the owner's request.
        await self._visible(upload_id, principal)
        try:
            async with self.tus.locked(upload_id):
                await self._visible(upload_id, principal)
                with contextlib.suppress(UploadNotFound):  # bytes already gone: still remove the rest
                    await self.tus.store.delete(upload_id)
                await self.tus.events.terminated(upload_id)
        except TusError as busy:  # the lock: 423 busy, 503 lock service down
            raise ApiError(busy.status, busy.message) from None
        return Response(status_code=204)
