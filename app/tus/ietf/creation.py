"""Upload creation: a POST to the upload collection that says whether it carries the whole file.

Its body, whatever its media type, is the first part of the file (or all of it). The answer is 201
with the upload's URL, or, had uvicorn a way to send it, a 104 with that URL before the body; see
``docs/api.md`` for why there is none.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from app.auth import identify
from app.tus.body import receive_body
from app.tus.context import TusContext
from app.tus.creation import new_upload, say_where_it_stands
from app.tus.errors import TusError
from app.tus.headers import HeaderError
from app.tus.ietf.fields import file_metadata
from app.tus.ietf.length import agreed_length, close_upload
from app.tus.ietf.responses import draft_headers
from app.tus.ietf.state import state_headers
from app.tus.ietf.versions import InteropVersion


async def create(context: TusContext, request: Request, version: InteropVersion) -> Response:
    principal = await identify(request)
    complete = version.says_complete(request.headers)
    try:
        metadata = file_metadata(request.headers, context.settings.max_metadata_size)
    except HeaderError as error:
        raise TusError(400, str(error)) from None
    length = agreed_length(context, request, known=None, offset=0, complete=complete)
    info = await new_upload(context, principal, length, metadata, concat=None)
    location = context.location(request, info.id)
    try:
        async with context.locked(info.id) as holder:
            offset = await receive_body(context, request, holder, info, 0, None)
            if complete:
                info = await close_upload(context, info, offset)
            headers = await state_headers(context, version, info, offset)
    except TusError as refused:
        await say_where_it_stands(context, refused, info.id, location)
        raise
    return Response(status_code=201, headers=draft_headers(version, {"Location": location, **headers}))
