"""What every tus handler needs, built once by the application and shared by all requests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from starlette.requests import Request

from app.auth import Principal
from app.storage import UploadStore
from app.tus.errors import TusError
from app.tus.events import UploadEvents
from app.tus.locks import UploadBusy, UploadLocks
from app.vocabulary import UploadInfo, is_valid_upload_id


@dataclass(frozen=True)
class TusContext:
    store: UploadStore
    events: UploadEvents
    locks: UploadLocks
    base_path: str
    max_size: int

    def location(self, request: Request, upload_id: str) -> str:
        base = str(request.base_url).rstrip("/")
        return f"{base}{self.base_path}{upload_id}"

    @asynccontextmanager
    async def locked(self, upload_id: str) -> AsyncIterator[None]:
        try:
            async with self.locks.hold(upload_id):
                yield
        except UploadBusy:
            raise TusError(423, "the upload is busy with another request; try again shortly") from None

    async def visible_info(self, upload_id: str, principal: Principal) -> UploadInfo:
        """The upload's info, or 404 when it does not exist or belongs to someone else."""
        if not is_valid_upload_id(upload_id):
            raise TusError(404, "upload not found")
        info = await self.store.info(upload_id)
        if not principal.may_access(info.owner):
            raise TusError(404, "upload not found")
        return info
