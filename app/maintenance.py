"""What the command line does besides serving: clean-up sweeps and reprocessing, from another process."""

from __future__ import annotations

import asyncio
import contextlib

from app.assets.lifecycle import Dispatch, UploadLifecycle
from app.db import open_database, queries
from app.db.migrations import migrate
from app.main import OFFSET_RECORD_INTERVAL_SECONDS, tus_context, upload_locks
from app.storage import UploadStore
from app.storage.configured import bucket_derivatives, upload_store
from app.tus.expiration import remove_expired
from app.tus.locks import Locks
from config import Settings
from workers.broker import create_broker
from workers.media import declare_actors


async def clean_up_expired(settings: Settings) -> list[str]:
    """``tusmedia cleanup``: remove expired uploads from another process than the server's.

    With Redis it takes the same upload locks as the servers. Without, the server's locks live in its
    own process, where this one cannot see them, so it takes the server's own hold on the upload
    directory instead (``UploadStore.exclusive_use``): beside a running server it raises
    ``DirectoryInUse`` before touching anything.
    """
    store = upload_store(settings)
    locks = upload_locks(settings)
    await store.start()
    try:
        with contextlib.ExitStack() as exclusive:
            if not locks.shared:
                exclusive.enter_context(store.exclusive_use())
            return await _remove_expired(settings, store, locks)
    finally:
        await store.close()


async def _remove_expired(settings: Settings, store: UploadStore, locks: Locks) -> list[str]:
    database = open_database(settings.database_url)
    await database.connect()
    try:
        await migrate(database)

        async def no_dispatch(upload_id: str) -> None:
            raise RuntimeError("clean-up never completes an upload")

        never: Dispatch = no_dispatch
        lifecycle = UploadLifecycle(
            database,
            never,
            settings.derivatives_dir,
            OFFSET_RECORD_INTERVAL_SECONDS,
            bucket_derivatives=bucket_derivatives(settings, store),
        )
        try:
            return await remove_expired(tus_context(settings, store, lifecycle, locks))
        finally:
            await locks.stop()
    finally:
        await database.disconnect()


async def reprocess(settings: Settings, upload_ids: list[str] | None) -> list[str]:
    """``tusmedia reprocess``: queue assets again (the given ones, or every failed one when None).

    With a broker the jobs are sent at once; without one, the running server's recovery sweep sends
    them within RECOVERY_INTERVAL seconds, because only it holds the in-memory queue.
    """
    database = open_database(settings.database_url)
    await database.connect()
    try:
        await migrate(database)
        requeued = await queries.requeue(database, upload_ids, "reprocess requested")
    finally:
        await database.disconnect()
    if requeued and not settings.embedded_worker:
        broker = create_broker(settings)
        try:
            actors = declare_actors(broker, settings)
            for upload_id in requeued:
                await asyncio.to_thread(actors.process_media.send, upload_id)
        finally:
            broker.close()
    return requeued
