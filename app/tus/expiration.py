"""The expiration extension: unfinished uploads expire a fixed time after their last write."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from email.utils import format_datetime
from typing import TYPE_CHECKING

from app.clock import utc_now
from app.storage import UploadNotFound
from app.tus.errors import TusError

if TYPE_CHECKING:
    from app.tus.context import TusContext

log = logging.getLogger(__name__)


def expires_at(last_write: datetime, expiration_seconds: float) -> datetime | None:
    if expiration_seconds <= 0:
        return None
    return last_write + timedelta(seconds=expiration_seconds)


def has_expired(last_write: datetime, expiration_seconds: float) -> bool:
    deadline = expires_at(last_write, expiration_seconds)
    return deadline is not None and deadline <= utc_now()


def http_date(moment: datetime) -> str:
    """RFC 9110 IMF-fixdate, e.g. ``Wed, 25 Nov 2026 01:31:16 GMT``."""
    return format_datetime(moment.replace(microsecond=0), usegmt=True)


async def remove_expired(context: TusContext) -> list[str]:
    """Delete every upload that can expire and has: unfinished ones, and partial uploads (whose bytes
    live on in their final upload). Finished uploads never expire. Returns the ids removed."""
    removed = []
    for upload_id in list(context.store.upload_ids()):
        try:
            # Never interrupt or wait for a live request: an upload in use has not expired.
            async with context.locked(upload_id, take_over=False, wait_seconds=0):
                info = await context.store.info(upload_id)
                if info.is_complete_at(await context.store.offset(upload_id)) and not info.is_partial:
                    continue
                if not has_expired(await context.store.last_write(upload_id), context.settings.expiration_seconds):
                    continue
                await context.store.delete(upload_id)
                await context.events.terminated(upload_id)
                removed.append(upload_id)
        except (UploadNotFound, TusError):
            continue  # deleted meanwhile, or busy with a request, which means it is alive
    if removed:
        log.info("removed %d expired upload(s)", len(removed))
    return removed


async def remove_expired_periodically(context: TusContext, interval_seconds: float) -> None:
    while True:
        await asyncio.sleep(interval_seconds)
        try:
            await remove_expired(context)
        except Exception:
            log.exception("expired-upload clean-up failed; trying again in %s s", interval_seconds)
