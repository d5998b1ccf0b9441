"""The recovery sweep: re-send media jobs whose message may have been lost.

Finishing an upload commits ``queued`` before sending the message; a crash in between, a broker that
was down, or a worker killed mid-job leaves a row that no message will ever reach. The sweep finds
those rows; the actor's conditional claim makes any duplicate it sends harmless.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from databases import Database

from app.clock import timestamp, utc_now
from app.db import queries
from app.lifecycle import Dispatch

log = logging.getLogger(__name__)


async def redispatch(database: Database, dispatch: Dispatch, queued_for_seconds: float | None) -> int:
    """Re-send jobs for rows queued longer than ``queued_for_seconds`` (all queued rows when None)
    and for rows whose processing lease expired. Returns how many were sent."""
    queued_before = None if queued_for_seconds is None else timestamp(utc_now() - timedelta(seconds=queued_for_seconds))
    upload_ids = await queries.ids_to_redispatch(database, queued_before)
    for upload_id in upload_ids:
        await dispatch(upload_id)
    if upload_ids:
        log.info("recovery sweep re-sent %d media job(s)", len(upload_ids))
    return len(upload_ids)


async def sweep_periodically(
    database: Database, dispatch: Dispatch, interval_seconds: float, queued_for_seconds: float
) -> None:
    while True:
        await asyncio.sleep(interval_seconds)
        try:
            await redispatch(database, dispatch, queued_for_seconds)
        except Exception:
            log.exception("recovery sweep failed; trying again in %s s", interval_seconds)
