"""What an upload's protocol events mean for the asset: rows in the database and media jobs."""

from __future__ import annotations

import asyncio
import logging
import shutil
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from databases import Database

from app.assets.hooks import PreCreateHook
from app.assets.offset_recorder import OffsetRecorder
from app.assets.quotas import Quotas
from app.assets.upload_rates import UploadRates
from app.db import queries
from app.observability import metrics
from app.vocabulary import AssetStatus, Concat, UploadInfo

if TYPE_CHECKING:
    from app.storage.s3derivatives import BucketDerivatives

log = logging.getLogger(__name__)

Dispatch = Callable[[str], Awaitable[None]]


class UploadLifecycle:
    def __init__(
        self,
        database: Database,
        dispatch: Dispatch,
        derivatives_dir: Path,
        offset_interval_seconds: float,
        *,
        quotas: Quotas | None = None,
        pre_create_hook: PreCreateHook | None = None,
        bucket_derivatives: BucketDerivatives | None = None,
    ) -> None:
        self.database = database
        self.dispatch = dispatch
        self.derivatives_dir = derivatives_dir
        self.bucket_derivatives = bucket_derivatives
        self.offsets = OffsetRecorder(self._write_offset, offset_interval_seconds)
        self.quotas = quotas or Quotas()
        self.pre_create_hook = pre_create_hook
        # How fast each upload arrives, for the status API (in memory, this process's view).
        self.rates = UploadRates()

    async def _write_offset(self, upload_id: str, offset: int) -> None:
        await queries.record_offset(self.database, upload_id, offset)

    async def admit(
        self, subject: str, is_admin: bool, length: int | None, metadata: dict[str, str], concat: Concat | None
    ) -> dict[str, str]:
        """Quotas first (admins are exempt), then the pre-create hook; either may refuse the upload."""
        if not is_admin:
            await self.quotas.check(self.database, subject, length)
        if self.pre_create_hook is not None:
            metadata = await self.pre_create_hook.check(subject, is_admin, length, metadata, concat)
        return metadata

    # Partial uploads (concatenation) are pieces of another upload, not assets: they get no row.

    async def created(self, info: UploadInfo) -> None:
        if not info.is_partial:
            await queries.insert_upload(self.database, info)
            metrics.UPLOADS_CREATED.inc()
            self.rates.record(info.id, 0)

    async def progressed(self, info: UploadInfo, offset: int) -> None:
        if not info.is_partial:
            self.rates.record(info.id, offset)
            await self.offsets.record(info.id, offset)

    async def completed(self, info: UploadInfo, just_finished: bool = False) -> None:
        """Queue the asset of an upload that has all its bytes. Idempotent, and called again by every
        request that finds the upload complete and by the recovery sweep, so an upload whose first
        completion could not be recorded (database locked or restarting, process killed) is queued
        later. Never raises for the database: the bytes are stored and the client's part is done."""
        if info.is_partial or info.length is None:
            return
        upload_id = info.id
        self.offsets.forget(upload_id)
        self.rates.forget(upload_id)
        try:
            # A read first: re-entries find the row queued already and must not take a write lock.
            # The request that wrote the last byte knows better, and the change is conditional anyway.
            if not just_finished and await queries.status_of(self.database, upload_id) != AssetStatus.UPLOADING:
                return
            # Commit "queued" before sending: if the process dies in between, the recovery sweep finds
            # the row and sends the message again. The reverse order could lose the job.
            if not await queries.mark_queued(self.database, upload_id, info.length):
                return
            metrics.UPLOADS_FINISHED.inc()  # here, where only one of the re-entries gets through
        except Exception as error:
            log.warning("could not queue %s (%s); the next request for it or the recovery sweep will", upload_id, error)
            return
        try:
            await self.dispatch(upload_id)
        except Exception:
            log.exception("could not send process_media(%s); the recovery sweep will retry", upload_id)

    async def terminated(self, upload_id: str, reason: str = "deleted") -> None:
        self.offsets.forget(upload_id)
        self.rates.forget(upload_id)
        await queries.delete_upload(self.database, upload_id, None if reason == "deleted" else reason)
        await asyncio.to_thread(shutil.rmtree, self.derivatives_dir / upload_id, ignore_errors=True)
        if self.bucket_derivatives is not None:
            await self.bucket_derivatives.remove(upload_id)
        metrics.record_termination(reason)

    async def close(self) -> None:
        if self.pre_create_hook is not None:
            await self.pre_create_hook.aclose()

    async def content_type(self, upload_id: str) -> str | None:
        row = await queries.get_upload(self.database, upload_id)
        return None if row is None else row["detected_type"]
