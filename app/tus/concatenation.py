"""The concatenation extension: partial uploads joined into a final one, also before they finish.

A final upload names its parts. If they are all complete it is assembled at once; otherwise it is
recorded in each unfinished part (``awaiting_finals``), and the part that completes last assembles
it. Only the final upload's lock is taken for that, so nothing waits on a part's running PATCH.
"""

from __future__ import annotations

import dataclasses

from app.auth import Principal
from app.tus.completion import assemble_if_ready
from app.tus.context import TusContext
from app.tus.errors import TusError
from app.vocabulary import Concat, UploadInfo


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
    """Record the final upload in each unfinished part, then assemble it if nothing is missing.

    No part lock is taken: a part may be in the middle of a PATCH. The order makes that safe: the link
    is written before the completeness check here, and a part re-reads its links after its last byte,
    so whichever comes second sees the other (and assembling twice is harmless).
    """
    for part_id in final.parts:
        part = await context.store.info(part_id)
        if not part.is_complete_at(await context.store.offset(part_id)):
            linked = dataclasses.replace(part, awaiting_finals=(*part.awaiting_finals, final.id))
            await context.store.update_info(linked)
    await assemble_if_ready(context, final.id)


def concat_header(context: TusContext, info: UploadInfo) -> dict[str, str]:
    if info.concat is Concat.PARTIAL:
        return {"Upload-Concat": "partial"}
    if info.concat is Concat.FINAL:
        paths = " ".join(f"{context.settings.base_path}{part_id}" for part_id in info.parts)
        return {"Upload-Concat": f"final;{paths}"}
    return {}
