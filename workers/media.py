"""The media actors. Thin: claim the row, call ``processing``, record the result.

The same actors run inside the server (no broker configured) and in ``tusmedia worker`` processes.
"""

from __future__ import annotations

import asyncio
import fnmatch
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import dramatiq
from databases import Database

from app.assets.derivative_folders import asset_folder, remove_folders, retired_folder, scratch_folder
from app.db import jobs, open_database, queries
from app.db.migrations import migrate
from app.observability.metrics import record_job
from app.storage.configured import bucket_derivatives, upload_store
from config import Settings
from workers.broker import CloseOnShutdown
from workers.child import ChildPool, Job, one_line
from workers.processing import (
    DetectedButFailed,
    PermanentProcessingError,
    ProcessingOptions,
    ProcessingResult,
    TypeNotAllowed,
)

log = logging.getLogger(__name__)

RETRY_MIN_BACKOFF_MS = 1_000
RETRY_MAX_BACKOFF_MS = 60_000
TIME_LIMIT_BACKSTOP_SECONDS = 60


class MediaJobs:
    """What the actors share: settings, the upload store, and a database connection of their own."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = upload_store(settings)
        # With uploads in a bucket, the derivatives go there too; else into DERIVATIVES_DIR.
        self.bucket_derivatives = bucket_derivatives(settings, self.store)
        self.options = ProcessingOptions(
            thumbnail_sizes=settings.thumbnail_sizes,
            max_image_pixels=settings.max_image_pixels,
            web_size=settings.web_version_size,
            derivative_format=settings.derivative_format,
            keep_gps=settings.store_gps,
            allowed_types=settings.allowed_types,
        )
        self.children = ChildPool(settings.media_niceness)
        self._database: Database | None = None
        self._connecting = asyncio.Lock()

    async def database(self) -> Database:
        async with self._connecting:
            if self._database is None:
                database = open_database(self.settings.database_url, self.settings.sqlite_busy_timeout_seconds)
                await database.connect()
                try:
                    await migrate(database)
                except BaseException:
                    # An open SQLite connection owns a non-daemon thread: never leave one behind.
                    await database.disconnect()
                    raise
                self._database = database
        return self._database

    async def close(self) -> None:
        await self.children.close()
        await self.store.close()
        if self._database is not None:
            await self._database.disconnect()
            self._database = None

    async def process_media(self, upload_id: str) -> None:
        database = await self.database()
        row = await jobs.claim(database, upload_id, self.settings.media_lease_seconds)
        if row is None:
            log.info("process_media(%s): nothing to claim (already done, taken, or deleted)", upload_id)
            record_job("superseded")
            return
        attempt: int = row["attempts"]
        started = time.monotonic()
        # Each attempt writes into a folder of its own, swapped in on success: a reprocess replaces the
        # derivatives all at once, and a crash or a superseded attempt never leaves half a set.
        scratch = scratch_folder(self.settings.derivatives_dir, upload_id, attempt)
        try:
            async with self.store.local_file(upload_id) as source:
                result = await self._run_leased(database, upload_id, attempt, self._job(row, source, scratch))
            if self.bucket_derivatives is not None and scratch.exists():
                await self.bucket_derivatives.publish(upload_id, attempt, scratch)
            recorded = await jobs.mark_ready(
                database,
                upload_id,
                attempt,
                detected_type=result.detected_type,
                width=result.width,
                height=result.height,
                duration_seconds=result.duration_seconds,
                media_format=result.format,
                details=result.details,
                derivatives=result.derivatives,
                processing_time_ms=_ms_since(started),
                while_held=self._swap(upload_id, scratch),
            )
        except LeaseLost:
            log.warning("process_media(%s): attempt %d lost its lease; its work is discarded", upload_id, attempt)
            record_job("superseded")
            return
        except PermanentProcessingError as failure:
            await self._fail(database, upload_id, attempt, failure, started)
            return
        except Exception as error:
            # Transient, also when the result could not be put in place or recorded: hand the row back
            # for the broker's retry, which ends in "failed" once the retries are spent. A row this
            # attempt no longer holds (deleted, taken over) has nothing to retry.
            if await jobs.release_for_retry(database, upload_id, attempt, one_line(error)):
                record_job("retried")
                raise
            log.warning("process_media(%s): %s, after the row was deleted or taken over", upload_id, one_line(error))
            record_job("superseded")
            return
        finally:
            # One hand-off for both: the attempt's scratch folder, and the set it replaced if it succeeded.
            retired = retired_folder(asset_folder(self.settings.derivatives_dir, upload_id))
            await asyncio.to_thread(remove_folders, scratch, retired)
        if self.bucket_derivatives is not None:
            # Ready: the sets it replaced go. Not recorded: only its own set goes, since the current
            # one may belong to an earlier attempt still (the sweep would remove it otherwise).
            if recorded:
                await self.bucket_derivatives.remove(upload_id, older_than_attempt=attempt)
            else:
                await self.bucket_derivatives.remove_attempt(upload_id, attempt)
        if recorded:
            log.info("process_media(%s): ready in %d ms", upload_id, _ms_since(started))
            record_job("ready", detected_type=result.detected_type, seconds=time.monotonic() - started)
        else:
            log.warning("process_media(%s): deleted or taken over meanwhile; nothing recorded", upload_id)
            record_job("superseded")

    def _swap(self, upload_id: str, scratch: Path) -> Callable[[], None] | None:
        """What puts the new set in place inside the row's change to ready: on disk, a folder swap; in
        a bucket, nothing, since the row's ``derivatives_attempt`` names the set."""
        if self.bucket_derivatives is not None:
            return None
        return lambda: _swap_in(scratch, asset_folder(self.settings.derivatives_dir, upload_id))

    def _job(self, row: dict[str, Any], source: BinaryIO, scratch: Path) -> Job:
        delay = self.settings.media_processing_delay_seconds
        names = self.settings.media_processing_delay_names
        slow = delay and any(fnmatch.fnmatch(row["filename"] or "", pattern) for pattern in names)
        delay = delay if slow else 0.0
        return Job(source.fileno(), scratch, self.options, delay)

    async def _run_leased(self, database: Database, upload_id: str, attempt: int, job: Job) -> ProcessingResult:
        """The job's result, while the attempt keeps its lease; LeaseLost (and the child killed) if not."""
        work = asyncio.create_task(self.children.run(job, self.settings.media_job_time_limit_seconds))
        lease = asyncio.create_task(self._keep_lease(database, upload_id, attempt))
        try:
            await asyncio.wait({work, lease}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (work, lease):
                task.cancel()
            await asyncio.wait({work, lease})
        if work.cancelled():
            raise LeaseLost(upload_id)
        return work.result()

    async def _keep_lease(self, database: Database, upload_id: str, attempt: int) -> None:
        """Renew the attempt's lease every third of it; return once it is lost: taken over, deleted,
        or not renewed in time (the database unreachable), when another worker may have claimed it."""
        lease = self.settings.media_lease_seconds
        held_until = time.monotonic() + lease
        while True:
            await asyncio.sleep(lease / 3)
            asked_at = time.monotonic()
            try:
                if not await jobs.renew_lease(database, upload_id, attempt, lease):
                    return
                held_until = asked_at + lease
            except Exception:
                if time.monotonic() + lease / 3 >= held_until:
                    log.warning("could not renew the lease of %s before it ran out", upload_id, exc_info=True)
                    return
                log.warning("could not renew the lease of %s; trying again", upload_id, exc_info=True)

    async def _fail(
        self, database: Database, upload_id: str, attempt: int, failure: PermanentProcessingError, started: float
    ) -> None:
        detected = failure.detected_type if isinstance(failure, DetectedButFailed) else None
        if isinstance(failure, TypeNotAllowed) and not self.settings.keep_refused_files:
            await self.store.delete(upload_id)
        reason = str(failure)
        await jobs.mark_failed(
            database, upload_id, attempt, reason, detected_type=detected, processing_time_ms=_ms_since(started)
        )
        log.info("process_media(%s): failed: %s", upload_id, reason)
        record_job("failed", detected_type=detected, seconds=time.monotonic() - started)

    async def retries_exhausted(self, message: dict[str, Any], retry_info: dict[str, Any]) -> None:
        upload_id = message["args"][0]
        database = await self.database()
        row = await queries.get_upload(database, upload_id)
        last_error = (row or {}).get("error") or "unknown error"
        await jobs.give_up(database, upload_id, f"gave up after {retry_info.get('retries', '?')} retries: {last_error}")
        record_job("failed")  # its last attempt was counted as retried


class LeaseLost(Exception):
    """The attempt no longer holds its row; whatever it made must not be recorded."""


@dataclass(frozen=True)
class MediaActors:
    process_media: dramatiq.Actor
    retries_exhausted: dramatiq.Actor


def declare_actors(broker: dramatiq.Broker, settings: Settings) -> MediaActors:
    media = MediaJobs(settings)
    broker.add_middleware(CloseOnShutdown(media.close))
    queue_name = f"{settings.queue_namespace}.media"
    exhausted = dramatiq.actor(
        actor_name="media_retries_exhausted",
        queue_name=queue_name,
        broker=broker,
        max_retries=settings.media_max_retries,
    )(media.retries_exhausted)
    process = dramatiq.actor(
        actor_name="process_media",
        queue_name=queue_name,
        broker=broker,
        max_retries=settings.media_max_retries,
        min_backoff=RETRY_MIN_BACKOFF_MS,
        max_backoff=RETRY_MAX_BACKOFF_MS,
        # A backstop only: the actor stops its own work at the limit and records "timed out".
        time_limit=(settings.media_job_time_limit_seconds + TIME_LIMIT_BACKSTOP_SECONDS) * 1000,
        on_retry_exhausted="media_retries_exhausted",
    )(media.process_media)
    return MediaActors(process_media=process, retries_exhausted=exhausted)


def _swap_in(new: Path, current: Path) -> None:
    """Put the ``new`` folder where ``current`` is, replacing it; the old one is left beside it, as
    ``retired_folder(current)``, to be removed after the commit. Runs inside the row's change to ``ready`` (in the
    database's thread on SQLite), so the folder is replaced if and only if the change commits."""
    if not new.exists():
        new.mkdir(parents=True)  # a file with no derivatives still gets its (empty) folder
    if current.exists():
        os.replace(current, retired_folder(current))
    os.replace(new, current)


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)
