"""What every tus handler needs, built once by the application and shared by all requests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from starlette.requests import Request

from app.auth import Principal
from app.storage import UploadNotFound, UploadStore
from app.tus.errors import TusError
from app.tus.events import UploadEvents
from app.tus.expiration import expiry_deadline, has_passed, http_date
from app.tus.locks import LockHolder, Locks, LockServiceDown, UploadBusy
from app.urls import public_base_url
from app.vocabulary import UploadInfo, is_valid_upload_id


@dataclass(frozen=True)
class TusSettings:
    base_path: str
    max_size: int
    max_metadata_size: int
    expiration_seconds: float
    trust_proxy_headers: bool
    relative_location: bool
    network_timeout_seconds: float


@dataclass(frozen=True)
class TusContext:
    store: UploadStore
    events: UploadEvents
    locks: Locks
    settings: TusSettings

    def location(self, request: Request, upload_id: str) -> str:
        path = f"{self.settings.base_path}{upload_id}"
        if self.settings.relative_location:
            return path
        return public_base_url(request, self.settings.trust_proxy_headers) + path

    def upload_id_from_url(self, url: str) -> str | None:
        """The id in an upload URL, absolute or relative to this server; None if it names none."""
        path = urlsplit(url.strip()).path
        if not path.startswith(self.settings.base_path):
            return None
        upload_id = path.removeprefix(self.settings.base_path)
        return upload_id if is_valid_upload_id(upload_id) else None

    @asynccontextmanager
    async def locked(
        self, upload_id: str, *, take_over: bool = True, wait_seconds: float | None = None
    ) -> AsyncIterator[LockHolder]:
        """The upload's lock (see ``UploadLocks.hold``); 423 if it cannot be had in time."""
        try:
            async with self.locks.hold(upload_id, take_over=take_over, wait_seconds=wait_seconds) as holder:
                yield holder
        except UploadBusy:
            raise TusError(423, "the upload is busy with another request; try again shortly") from None
        except LockServiceDown as down:
            raise TusError(503, f"the shared lock service is unavailable ({down}); try again shortly") from None

    @asynccontextmanager
    async def locked_by(self, principal: Principal, upload_id: str) -> AsyncIterator[LockHolder]:
        """The upload's lock for a request of ``principal``, who must be able to see the upload: another
        user's request answers 404 before it could take over (or wait for) the owner's request."""
        await self.visible_info(upload_id, principal)
        async with self.locked(upload_id) as holder:
            yield holder

    async def visible_info(self, upload_id: str, principal: Principal) -> UploadInfo:
        """The upload's info, or 404 when it does not exist or belongs to someone else."""
        if not is_valid_upload_id(upload_id):
            raise TusError(404, "upload not found")
        try:
            info = await self.store.info(upload_id)
        except UploadNotFound:
            raise TusError(404, "upload not found") from None
        if not principal.may_access(info.owner):
            raise TusError(404, "upload not found")
        return info

    async def live_upload(
        self, upload_id: str, principal: Principal, *, appending: bool = False
    ) -> tuple[UploadInfo, int]:
        """The upload's info and offset, for a request that holds its lock: 404 when it is not the
        caller's, 403 for an append to a final upload, 410 when it expired. A complete upload is
        completed (again: that is idempotent)."""
        info = await self.visible_info(upload_id, principal)
        if appending and info.is_final:
            raise TusError(403, "a final upload is assembled from its parts and takes no appends")
        offset = await self.store.offset(upload_id)
        if has_passed(await self.expiry_deadline(info, offset)):
            raise TusError(410, "the upload expired; start a new one")
        if not info.is_partial and info.is_complete_at(offset):
            # Completion is re-entered by every request that sees it, so one that could not be recorded
            # when the last byte landed (a locked database, a crash) is recorded now.
            await self.events.completed(info)
        return info, offset

    async def expiry_headers(self, info: UploadInfo, offset: int) -> dict[str, str]:
        deadline = await self.expiry_deadline(info, offset)
        return {} if deadline is None else {"Upload-Expires": http_date(deadline)}

    async def expiry_deadline(self, info: UploadInfo, offset: int) -> datetime | None:
        # One rule for the 410, the header and the sweep, concatenation included.
        return await expiry_deadline(self.store, info, offset, self.settings.expiration_seconds)
