"""An upload's length under the draft. Unlike tus, a client need not say it up front: it may state it
in ``Upload-Length``, imply it by completing the upload with a ``Content-Length`` (the length is then
the offset plus the body), or leave it to be learnt when the completing request's body ends."""

from __future__ import annotations

import dataclasses

from starlette.requests import Request

from app.tus.body import declared_body_length
from app.tus.completion import finish
from app.tus.context import TusContext
from app.tus.errors import TusError
from app.tus.headers import HeaderError
from app.tus.ietf.fields import optional_non_negative
from app.tus.ietf.responses import UploadProblem
from app.tus.ietf.versions import INCONSISTENT_LENGTH
from app.vocabulary import UploadInfo


def inconsistent_length(message: str) -> UploadProblem:
    return UploadProblem(400, message, INCONSISTENT_LENGTH)


def agreed_length(context: TusContext, request: Request, known: int | None, offset: int, complete: bool) -> int | None:
    """The length everything known so far agrees on (None while nothing says it). Refuses lengths
    that disagree, that the bytes already stored or this body would pass, or that are too large."""
    try:
        stated = optional_non_negative(request.headers, "Upload-Length")
    except HeaderError as error:
        raise TusError(400, str(error)) from None
    body = declared_body_length(request)
    implied = offset + body if complete and body is not None else None
    indications = {length for length in (known, stated, implied) if length is not None}
    if len(indications) > 1:
        said = ", ".join(str(length) for length in sorted(indications))
        raise inconsistent_length(f"the upload's length is said to be each of {said}")
    length = next(iter(indications), None)
    if length is None:
        return None
    if length < offset:
        raise inconsistent_length(f"the length {length} is below the {offset} bytes already uploaded")
    if body is not None and offset + body > length:
        raise inconsistent_length(f"the body ({body} bytes) would pass the upload's length of {length}")
    maximum = context.settings.max_size
    if length > maximum:
        raise TusError(413, f"the length {length} exceeds the maximum of {maximum} bytes")
    return length


async def record_length(context: TusContext, info: UploadInfo, length: int | None) -> UploadInfo:
    """The upload's info with ``length``, stored if it was not known before."""
    if length is None or info.length == length:
        return info
    settled = dataclasses.replace(info, length=length)
    await context.store.update_info(settled)
    return settled


async def close_upload(context: TusContext, info: UploadInfo, offset: int) -> UploadInfo:
    """A request that said it completes the upload delivered all its body: the upload ends at
    ``offset``. Call with the upload locked."""
    if info.length is None:
        info = await record_length(context, info, offset)
        # receive_body only finishes uploads whose length it knew; this one's length was just learnt.
        await finish(context, info)
    elif offset != info.length:
        # The bytes stay, so the client can still send what is missing and complete the upload.
        said = f"the upload was said to be complete at {offset} bytes, but its length is {info.length}"
        raise inconsistent_length(said)
    return info
