"""GET: download a finished upload, with single byte ranges (RFC 9110 section 14)."""

from __future__ import annotations

import re
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from app.auth import identify
from app.tus.context import TusContext
from app.tus.errors import TusError, tus_headers
from app.tus.headers import HeaderError, parse_non_negative
from app.vocabulary import UploadInfo

_RANGE = re.compile(r"bytes=([0-9]*)-([0-9]*)")
# Shown in the browser; anything else (HTML, SVG, scripts) is only ever offered as a file to save,
# so an upload can never run script on this server's origin.
_INLINE_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp", "image/avif", "video/", "audio/")


def _byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """(first, last) of a single satisfiable range; None to send everything; 416 if unsatisfiable,
    400 for a bound with more digits than a byte count has."""
    if not header:
        return None
    match = _RANGE.fullmatch(header.strip(" \t"))
    if match is None:
        return None  # several ranges or another unit: answering with the whole body is allowed
    first_text, last_text = match.groups()
    if not first_text and not last_text:
        return None
    first, last = _bound(first_text), _bound(last_text)
    # An empty upload has no byte to select: not even a suffix range can be satisfied.
    if size == 0:
        raise _unsatisfiable(size)
    if first is None:  # bytes=-N: the last N bytes
        assert last is not None  # "bytes=-" alone was answered above
        if last == 0:
            raise _unsatisfiable(size)
        return max(size - last, 0), size - 1
    last = size - 1 if last is None else min(last, size - 1)
    if first >= size or first > last:
        raise _unsatisfiable(size)
    return first, last


def _bound(text: str) -> int | None:
    """One side of ``first-last``: None when left out."""
    if not text:
        return None
    try:
        return parse_non_negative("Range", text)
    except HeaderError as error:
        raise TusError(400, str(error)) from None


def _unsatisfiable(size: int) -> TusError:
    return TusError(416, "the requested range is outside the upload", {"Content-Range": f"bytes */{size}"})


def content_disposition(info: UploadInfo, media_type: str) -> str:
    kind = "inline" if media_type.startswith(_INLINE_TYPES) else "attachment"
    filename = info.filename
    if not filename:
        return kind
    fallback = "".join(c if c.isascii() and c.isprintable() and c not in '"\\' else "_" for c in filename)
    return f"{kind}; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename, safe='')}"


async def download(context: TusContext, request: Request, upload_id: str) -> Response:
    principal = await identify(request)
    info = await context.visible_info(upload_id, principal)
    size = await context.store.offset(upload_id)
    if info.is_partial or not info.is_complete_at(size):
        raise TusError(409, "the upload is not finished; only finished uploads can be downloaded")
    media_type = await context.events.content_type(upload_id) or "application/octet-stream"
    headers = tus_headers(
        {
            "Accept-Ranges": "bytes",
            "Content-Disposition": content_disposition(info, media_type),
            "X-Content-Type-Options": "nosniff",
            "Cache-Control": "private, max-age=3600",
        }
    )
    chosen = _byte_range(request.headers.get("range"), size)
    first, last = chosen if chosen is not None else (0, size - 1)
    headers["Content-Length"] = str(last - first + 1)
    status = 200
    if chosen is not None:
        status = 206
        headers["Content-Range"] = f"bytes {first}-{last}/{size}"
    return StreamingResponse(
        context.store.read(upload_id, first, last - first + 1),
        status_code=status,
        headers=headers,
        media_type=media_type,
    )
