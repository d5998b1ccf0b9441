"""The recovery sweep: finish what a crash, a locked database or a lost message left half done.

Three things can be left behind. An upload whose bytes are all stored but whose row never became
``queued`` (the database refused the change, or the process died before committing it): the sweep
completes it. A row that no message will reach: finishing an upload commits ``queued`` before
sending, so a crash in between, a broker that was down, or a worker killed mid-job leaves one. The
sweep sends those again; the actor's conditional claim makes any duplicate harmless. And the folder
a killed attempt was writing its derivatives into (``app.assets.derivative_folders``): the sweep
removes it once the row shows that attempt is no longer the one processing the asset.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta

from databases import Database

from app.assets.derivative_folders import leftovers, remove_folders
from app.assets.lifecycle import UploadLifecycle
from app.clock import timestamp, utc_now
from app.db import jobs, queries
from app.storage import UploadNotFound, UploadStore
from app.vocabulary import AssetStatus

log = logging.getLogger(__name__)

# A staged body or temporary file untouched this long belongs to no live request on any server.
DEBRIS_AGE_SECONDS = 3600


class Recovery:
    def __init__(
        self,
        database: Database,
        store: UploadStore,
        lifecycle: UploadLifecycle,
        resend_webhooks: Callable[[], Awaitable[int]] | None = None,
    ) -> None:
        self.database = database
        self.store = store
        self.lifecycle = lifecycle
        # Re-sends the webhook actor for overdue deliveries no attempt holds (app.notify).
        self.resend_webhooks = resend_webhooks

    async def sweep(self, queued_for_seconds: float | None, debris_older_than_seconds: float) -> None:
        """Remove storage debris, complete stored uploads, then re-send jobs queued longer than
        ``queued_for_seconds`` (all queued rows when None, as at start-up) and those whose
        processing lease expired."""
        await self.remove_debris(debris_older_than_seconds)
        await self.remove_leftover_attempts()
        await self.complete_stored_uploads()
        await self.redispatch(queued_for_seconds)
        if self.resend_webhooks is not None:
            await self.resend_webhooks()

    async def remove_debris(self, older_than_seconds: float) -> None:
        deleted = await self.store.remove_debris(older_than_seconds)
        for upload_id in deleted:
            # Its delete was cut short between the data and the info: finish it.
            await self.lifecycle.terminated(upload_id)
        if deleted:
            log.info("removed %d upload(s) whose deletion had been cut short", len(deleted))

    async def remove_leftover_attempts(self) -> int:
        """Remove the derivative folders of attempts that no longer own their asset (killed, superseded,
        the asset gone) and retired sets a crash left; returns how many."""
        found = await asyncio.to_thread(leftovers, self.lifecycle.derivatives_dir)
        stale = []
        for leftover in found:
            row = await queries.get_upload(self.database, leftover.upload_id) if leftover.attempt is not None else None
            # The folder of the attempt the row says is processing may still be written: it stays.
            live = row is not None and row["status"] == AssetStatus.PROCESSING and row["attempts"] == leftover.attempt
            if not live:
                stale.append(leftover.path)
        if stale:
            await asyncio.to_thread(remove_folders, *stale)
            log.info("removed %d derivative folder(s) left by attempts that no longer run", len(stale))
        return len(stale) + await self._remove_leftover_sets()

    async def _remove_leftover_sets(self) -> int:
        """The same in a bucket: every set but the one the row names and that of the attempt running."""
        bucket = self.lifecycle.bucket_derivatives
        if bucket is None:
            return 0
        stale = []
        for upload_id, sets in itertools.groupby(await bucket.sets(), key=lambda found: found.upload_id):
            row = await queries.get_upload(self.database, upload_id)  # once per asset, not per set
            for found in sets:
                current = row is not None and row["derivatives_attempt"] == found.attempt
                running = (
                    row is not None and row["status"] == AssetStatus.PROCESSING and row["attempts"] == found.attempt
                )
                if not (current or running):
                    stale.append(found)
        if stale:
            await bucket.remove_sets(stale)
            log.info("removed %d derivative set(s) from the bucket that no asset uses", len(stale))
        return len(stale)

    async def complete_stored_uploads(self) -> int:
        """Queue every ``uploading`` row whose upload has all its bytes; returns how many there were."""
        completed = 0
        for upload_id in await queries.uploading_ids(self.database):
            try:
                info = await self.store.info(upload_id)
                offset = await self.store.offset(upload_id)
            except UploadNotFound:
                continue  # deleted meanwhile
            if info.is_complete_at(offset):
                await self.lifecycle.completed(info)
                completed += 1
        if completed:
            log.info("recovery sweep completed %d upload(s) whose completion was not recorded", completed)
        return completed

    async def redispatch(self, queued_for_seconds: float | None) -> int:
        queued_before = None
        if queued_for_seconds is not None:
            queued_before = timestamp(utc_now() - timedelta(seconds=queued_for_seconds))
        upload_ids = await jobs.ids_to_redispatch(self.database, queued_before)
        for upload_id in upload_ids:
            await self.lifecycle.dispatch(upload_id)
        if upload_ids:
            log.info("recovery sweep re-sent %d media job(s)", len(upload_ids))
        return len(upload_ids)

    async def run_periodically(self, interval_seconds: float, queued_for_seconds: float) -> None:
        while True:
            await asyncio.sleep(interval_seconds)
            try:
                await self.sweep(queued_for_seconds, DEBRIS_AGE_SECONDS)
            except Exception:
                log.exception("recovery sweep failed; trying again in %s s", interval_seconds)
