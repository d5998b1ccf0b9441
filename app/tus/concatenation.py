"""The concatenation extension: partial uploads joined into a final one, also before they finish.

A final upload names its parts and is recorded in each of them (``awaiting_finals``), under that
part's lock. If the parts are all complete it is assembled at once; otherwise the part that completes
last assembles it. The links also tie the uploads' expiry together (see ``expiration``).
"""

from __future__ import annotations

import dataclasses
import logging

from app.auth import Principal
from app.storage import UploadNotFound
from app.tus.completion import assemble_if_ready
from app.tus.context import TusContext
from app.tus.errors import TusError
from app.vocabulary import Concat, UploadInfo

log = logging.getLogger(__name__)


def parse_final(context: TusContext, value: str) -> list[str]:
    """``final;<url> <url> ...`` into part ids."""
    urls = value.split(";", 1)[1].split()
    if not urls:
        raise TusError(400, "Upload-Concat: final; must name at least one partial upload")
    part_ids = []
    for url in urls:
        part_id = context.upload_id_from_url(url)
        if part_id is None:
            raise TusError(400, f"Upload-Concat names {url[:80]!r}, which is not an upload URL of this server")
        part_ids.append(part_id)
    return part_ids


async def check_parts(context: TusContext, part_ids: list[str], principal: Principal) -> int:
    """Every part exists, is the caller's, is partial and has a length; returns the total length."""
    total = 0
    for part_id in part_ids:
        try:
            part = await context.visible_info(part_id, principal)
        except TusError:
            raise TusError(400, f"partial upload {part_id} not found") from None
        if not part.is_partial:
            raise TusError(400, f"upload {part_id} is not a partial upload (Upload-Concat: partial)")
        if part.length is None:
            raise TusError(400, f"partial upload {part_id} has no Upload-Length yet")
        total += part.length
    return total


async def link_parts(context: TusContext, final: UploadInfo) -> None:
    """Record the final upload in each of its parts, then assemble it if nothing is missing.

    Locks go part first, then final, as everywhere: each part's lock is held only while its info
    changes, and the final's only afterwards. A part in the middle of a PATCH is waited for, never
    taken over (its client may be live, only slow); if it stays busy past LOCK_WAIT, the final upload
    and the links already made are removed and the client hears 423, so the refused request leaves
    nothing behind. Under its lock, a part's last byte lands either before its link (the check below
    then finds it complete) or after it (the part's request then sees the link and assembles).
    """
    linked: list[str] = []
    try:
        for part_id in dict.fromkeys(final.parts):  # a part named twice is linked once
            await _set_link(context, part_id, final.id, linked=True)
            linked.append(part_id)
    except TusError:
        await _withdraw(context, final.id, linked)
        raise
    await assemble_if_ready(context, final.id)


async def _set_link(context: TusContext, part_id: str, final_id: str, *, linked: bool) -> None:
    """Link a part to a final upload, or unlink it, under the part's lock."""
    async with context.locked(part_id, take_over=False):
        try:
            part = await context.store.info(part_id)
        except UploadNotFound:
            raise TusError(400, f"partial upload {part_id} not found") from None
        others = tuple(other for other in part.awaiting_finals if other != final_id)
        finals = (*others, final_id) if linked else others
        if set(finals) != set(part.awaiting_finals):
            await context.store.update_info(dataclasses.replace(part, awaiting_finals=finals))


async def _withdraw(context: TusContext, final_id: str, linked: list[str]) -> None:
    """Undo a final upload that could not be linked to all its parts. Best effort: a link left to a
    final upload that is gone is ignored by every reader."""
    for part_id in linked:
        try:
            await _set_link(context, part_id, final_id, linked=False)
        except TusError as error:
            log.warning("final upload %s stays linked from part %s: %s", final_id, part_id, error.message)
    try:
        async with context.locked(final_id, take_over=False):
            await context.store.delete(final_id)
            await context.events.terminated(final_id)
    except TusError as error:
        log.warning("could not remove final upload %s after a failed link: %s", final_id, error.message)


def concat_header(context: TusContext, info: UploadInfo) -> dict[str, str]:
    if info.concat is Concat.PARTIAL:
        return {"Upload-Concat": "partial"}
    if info.concat is Concat.FINAL:
        paths = " ".join(f"{context.settings.base_path}{part_id}" for part_id in info.parts)
        return {"Upload-Concat": f"final;{paths}"}
    return {}
