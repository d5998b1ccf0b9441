"""What happens when an upload has all its bytes, including assembling final uploads it completes."""

from __future__ import annotations

import logging

from app.storage import UploadNotFound
from app.tus.context import TusContext
from app.tus.errors import TusError
from app.vocabulary import UploadInfo

log = logging.getLogger(__name__)


async def finish(context: TusContext, info: UploadInfo) -> None:
    """The upload has all its bytes. Call with the upload locked."""
    await context.events.completed(info, just_finished=True)
    if not info.is_partial:
        return
    # Read again: a final upload may have been linked to this part while its bytes were arriving.
    for final_id in (await context.store.info(info.id)).awaiting_finals:
        try:
            await assemble_if_ready(context, final_id)
        except UploadNotFound:
            log.info("final upload %s went away before its part %s completed", final_id, info.id)
        except TusError as busy:
            # The part's bytes are safe either way; a HEAD on the final upload assembles it later.
            log.warning("could not assemble final upload %s now: %s", final_id, busy.message)
        except OSError as error:
            # A full disk, say: the part is complete and answers so; the final waits for a HEAD.
            log.warning("could not assemble final upload %s now: %s", final_id, error.strerror)


async def assemble_if_ready(context: TusContext, final_id: str) -> None:
    """Join a final upload's parts once all are complete. Takes the final upload's lock."""
    async with context.locked(final_id, take_over=False):
        final = await context.store.info(final_id)
        if final.is_complete_at(await context.store.offset(final_id)):
            return  # assembled already
        for part_id in final.parts:
            part = await context.store.info(part_id)
            if not part.is_complete_at(await context.store.offset(part_id)):
                return
        await context.store.concatenate(final_id, list(final.parts))
        await finish(context, final)
