"""The expiration extension: unfinished uploads expire a fixed time after their last write.

Concatenation ties uploads together. A final upload that is not assembled yet and its parts live as
one: they expire a fixed time after the latest write to any of them (declaring the final counts as a
write to it). So a final upload declared before its parts lives while a part is still being
uploaded, and a part that finished early lives while its final upload awaits the others. Once a
final upload is assembled its parts go back to their own clocks, and a final whose parts are gone
counts only the ones left.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from email.utils import format_datetime
from typing import TYPE_CHECKING

from app.clock import utc_now
from app.storage import UploadNotFound, UploadStore
from app.tus.errors import TusError
from app.vocabulary import UploadInfo

if TYPE_CHECKING:
    from app.tus.context import TusContext

log = logging.getLogger(__name__)


def expires_at(last_write: datetime, expiration_seconds: float) -> datetime | None:
    if expiration_seconds <= 0:
        return None
    return last_write + timedelta(seconds=expiration_seconds)


def has_passed(deadline: datetime | None) -> bool:
    return deadline is not None and deadline <= utc_now()


async def expiry_deadline(
    store: UploadStore, info: UploadInfo, offset: int, expiration_seconds: float
) -> datetime | None:
    """When the upload expires; None for one that never does: a finished upload (an assembled final
    upload too). Partial uploads can expire finished, their bytes living on in their final upload."""
    if info.is_complete_at(offset) and not info.is_partial:
        return None
    return expires_at(await last_activity(store, info), expiration_seconds)


async def last_activity(store: UploadStore, info: UploadInfo) -> datetime:
    """The write the upload's expiry counts from: its own last one, or, while it belongs to a final
    upload not assembled yet, the latest of that whole concatenation."""
    if info.is_final:
        return await _concatenation_activity(store, info)
    latest = await store.last_write(info.id)
    for final_id in info.awaiting_finals:
        final = await _unassembled(store, final_id)
        if final is not None:
            latest = max(latest, await _concatenation_activity(store, final))
    return latest


async def _unassembled(store: UploadStore, final_id: str) -> UploadInfo | None:
    """The final upload if it is still waiting for its parts; None once assembled, or gone."""
    try:
        final = await store.info(final_id)
        offset = await store.offset(final_id)
    except UploadNotFound:
        return None
    return None if final.is_complete_at(offset) else final


async def _concatenation_activity(store: UploadStore, final: UploadInfo) -> datetime:
    """The latest write to a final upload or to any of its parts still there."""
    latest = await store.last_write(final.id)
    for part_id in final.parts:
        try:
            latest = max(latest, await store.last_write(part_id))
        except UploadNotFound:
            continue  # removed: it keeps nothing alive
    return latest


def http_date(moment: datetime) -> str:
    """RFC 9110 IMF-fixdate, e.g. ``Wed, 25 Nov 2026 01:31:16 GMT``."""
    return format_datetime(moment.replace(microsecond=0), usegmt=True)


async def remove_expired(context: TusContext) -> list[str]:
    """Delete every upload that can expire and has (see ``expiry_deadline``). Returns the ids removed."""
    removed = []
    # Listing the directory is a scan of every upload ever made: not on the event loop.
    upload_ids = await context.store.upload_ids()
    for upload_id in upload_ids:
        try:
            # Most uploads are finished and never expire: tell without taking (in Redis mode, asking
            # the network for) their lock; only a candidate is locked and looked at again.
            if not await _may_have_expired(context, upload_id):
                continue
            # Never interrupt or wait for a live request: an upload in use has not expired.
            async with context.locked(upload_id, take_over=False, wait_seconds=0):
                info = await context.store.info(upload_id)
                offset = await context.store.offset(upload_id)
                if not has_passed(await context.expiry_deadline(info, offset)):
                    continue
                await context.store.delete(upload_id)
                await context.events.terminated(upload_id, reason="expired")
                removed.append(upload_id)
        except (UploadNotFound, TusError):
            continue  # deleted meanwhile, or busy with a request, which means it is alive
    if removed:
        log.info("removed %d expired upload(s)", len(removed))
    return removed


async def _may_have_expired(context: TusContext, upload_id: str) -> bool:
    info = await context.store.info(upload_id)
    return has_passed(await context.expiry_deadline(info, await context.store.offset(upload_id)))


async def remove_expired_periodically(context: TusContext, interval_seconds: float) -> None:
    while True:
        await asyncio.sleep(interval_seconds)
        try:
            await remove_expired(context)
        except Exception:
            log.exception("expired-upload clean-up failed; trying again in %s s", interval_seconds)
