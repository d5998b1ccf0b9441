"""The headers that tell a client where its upload stands: offset, completeness, length and limits."""

from __future__ import annotations

from app.clock import utc_now
from app.tus.context import TusContext
from app.tus.expiration import expires_at
from app.tus.ietf.fields import upload_limit
from app.tus.ietf.versions import InteropVersion
from app.vocabulary import UploadInfo


async def state_headers(context: TusContext, version: InteropVersion, info: UploadInfo, offset: int) -> dict[str, str]:
    # Upload-Offset is sent in every version: later drafts no longer require it on append responses,
    # but the clients of earlier ones (tus-js-client among them) read it there.
    headers = {"Upload-Offset": str(offset), **version.completeness(info.is_complete_at(offset))}
    if info.length is not None:
        headers["Upload-Length"] = str(info.length)
    if version.has_upload_limit:
        seconds_left = await _seconds_left(context, info, offset)
        headers.update(upload_limit(context.settings.max_size, version.lifetime_limit_key, seconds_left))
    return headers


async def _seconds_left(context: TusContext, info: UploadInfo, offset: int) -> int | None:
    """How long the upload has before it expires; None if it never does (finished, or no expiry set)."""
    if info.is_complete_at(offset) and not info.is_partial:
        return None
    deadline = expires_at(await context.store.last_write(info.id), context.settings.expiration_seconds)
    if deadline is None:
        return None
    return max(0, int((deadline - utc_now()).total_seconds()))
