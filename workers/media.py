"""The media actors. Thin: claim the row, call ``processing``, record the result.

The same actors run inside the server (no broker configured) and in ``tusmedia worker`` processes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import dramatiq
from databases import Database
from dramatiq.asyncio import get_event_loop_thread
from PIL import Image

from app.db import open_database, queries
from app.db.migrations import migrate
from app.storage.filestore import FileStore
from config import Settings
from workers.processing import (
    DetectedButFailed,
    PermanentProcessingError,
    ProcessingOptions,
    ProcessingResult,
    TypeNotAllowed,
    process_media_file,
)

log = logging.getLogger(__name__)

RETRY_MIN_BACKOFF_MS = 1_000
RETRY_MAX_BACKOFF_MS = 60_000
TIME_LIMIT_BACKSTOP_SECONDS = 60


class MediaJobs:
    """What the actors share: settings, the upload store, and a database connection of their own."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = FileStore(settings.upload_dir)
        self.options = ProcessingOptions(
            thumbnail_sizes=settings.thumbnail_sizes,
            max_image_pixels=settings.max_image_pixels,
            web_size=settings.web_version_size,
            derivative_format=settings.derivative_format,
            keep_gps=settings.store_gps,
            allowed_types=settings.allowed_types,
        )
        self._database: Database | None = None
        self._connecting = asyncio.Lock()

    async def database(self) -> Database:
        async with self._connecting:
            if self._database is None:
                database = open_database(self.settings.database_url)
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
        if self._database is not None:
            await self._database.disconnect()
            self._database = None

    async def process_media(self, upload_id: str) -> None:
        database = await self.database()
        row = await queries.claim_for_processing(database, upload_id, self.settings.media_lease_seconds)
        if row is None:
            log.info("process_media(%s): nothing to claim (already done, taken, or deleted)", upload_id)
            return
        started = time.monotonic()
        # Each attempt writes into a folder of its own; the asset's folder is swapped in on success,
        # so a reprocess replaces derivatives at once and a crash never leaves half of them.
        scratch = self.settings.derivatives_dir / f".{upload_id}.attempt-{row['attempts']}"
        limit = self.settings.media_job_time_limit_seconds
        renewal = asyncio.create_task(self._keep_lease(database, upload_id))
        try:
            async with asyncio.timeout(limit):
                if self.settings.media_processing_delay_seconds:
                    await asyncio.sleep(self.settings.media_processing_delay_seconds)
                result = await asyncio.to_thread(self._process, upload_id, scratch)
        except TimeoutError:
            # Permanent: the same file would run out of time again. The thread doing the work cannot be
            # stopped; it finishes in the background and its scratch folder is removed below.
            await self._fail(database, upload_id, scratch, f"timed out after {limit} s", None, started)
            return
        except PermanentProcessingError as failure:
            detected = failure.detected_type if isinstance(failure, DetectedButFailed) else None
            if isinstance(failure, TypeNotAllowed) and not self.settings.keep_refused_files:
                await self.store.delete(upload_id)
            await self._fail(database, upload_id, scratch, str(failure), detected, started)
            return
        except Exception as error:
            # Transient: hand the row back so the retry can claim it, then let Retries back off.
            shutil.rmtree(scratch, ignore_errors=True)
            await queries.release_for_retry(database, upload_id, _one_line(error))
            raise
        finally:
            renewal.cancel()
        _swap_in(scratch, self.settings.derivatives_dir / upload_id)
        await queries.mark_ready(
            database,
            upload_id,
            detected_type=result.detected_type,
            width=result.width,
            height=result.height,
            duration_seconds=result.duration_seconds,
            media_format=result.format,
            details=result.details,
            derivatives=result.derivatives,
            processing_time_ms=_ms_since(started),
        )
        log.info("process_media(%s): ready in %d ms", upload_id, _ms_since(started))

    async def _keep_lease(self, database: Database, upload_id: str) -> None:
        """Renew the claim while the job runs: a short lease lets a dead worker's job be found soon."""
        lease = self.settings.media_lease_seconds
        while True:
            await asyncio.sleep(lease / 3)
            try:
                if not await queries.renew_lease(database, upload_id, lease):
                    return
            except Exception:
                log.warning("could not renew the lease of %s; trying again", upload_id, exc_info=True)

    async def _fail(
        self, database: Database, upload_id: str, scratch: Path, reason: str, detected: str | None, started: float
    ) -> None:
        shutil.rmtree(scratch, ignore_errors=True)
        await queries.mark_failed(
            database, upload_id, reason, detected_type=detected, processing_time_ms=_ms_since(started)
        )
        log.info("process_media(%s): failed: %s", upload_id, reason)

    def _process(self, upload_id: str, output_dir: Path) -> ProcessingResult:
        shutil.rmtree(output_dir, ignore_errors=True)
        with self.store.open(upload_id) as source:
            return process_media_file(source, output_dir, self.options)

    async def retries_exhausted(self, message: dict[str, Any], retry_info: dict[str, Any]) -> None:
        upload_id = message["args"][0]
        database = await self.database()
        row = await queries.get_upload(database, upload_id)
        last_error = (row or {}).get("error") or "unknown error"
        await queries.mark_failed(
            database, upload_id, f"gave up after {retry_info.get('retries', '?')} retries: {last_error}"
        )


@dataclass(frozen=True)
class MediaActors:
    process_media: dramatiq.Actor
    retries_exhausted: dramatiq.Actor


class _CloseDatabase(dramatiq.Middleware):
    def __init__(self, jobs: MediaJobs) -> None:
        self.jobs = jobs

    def before_worker_shutdown(self, broker: dramatiq.Broker, worker: dramatiq.Worker) -> None:
        loop_thread = get_event_loop_thread()
        if loop_thread is not None:
            loop_thread.run_coroutine(self.jobs.close())


def declare_actors(broker: dramatiq.Broker, settings: Settings) -> MediaActors:
    # Pillow warns above MAX_IMAGE_PIXELS and refuses at twice that; align it with our own limit.
    Image.MAX_IMAGE_PIXELS = settings.max_image_pixels
    jobs = MediaJobs(settings)
    broker.add_middleware(_CloseDatabase(jobs))
    queue_name = f"{settings.queue_namespace}.media"
    exhausted = dramatiq.actor(
        actor_name="media_retries_exhausted",
        queue_name=queue_name,
        broker=broker,
        max_retries=settings.media_max_retries,
    )(jobs.retries_exhausted)
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
    )(jobs.process_media)
    return MediaActors(process_media=process, retries_exhausted=exhausted)


def _swap_in(new: Path, current: Path) -> None:
    """Put the ``new`` folder where ``current`` is, replacing it."""
    if not new.exists():
        new.mkdir(parents=True)  # a file with no derivatives still gets its (empty) folder
    retired = current.with_name(f".{current.name}.retired")
    shutil.rmtree(retired, ignore_errors=True)
    if current.exists():
        os.replace(current, retired)
    os.replace(new, current)
    shutil.rmtree(retired, ignore_errors=True)


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _one_line(error: BaseException) -> str:
    text = f"{type(error).__name__}: {error}".splitlines()
    return text[0][:500] if text else type(error).__name__
