"""OPTIONS: what this server supports."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from app.tus.checksum import ALGORITHMS
from app.tus.context import TusContext
from app.tus.errors import tus_headers
from app.tus.headers import TUS_VERSION

EXTENSIONS = (
    "creation",
    "creation-with-upload",
    "creation-defer-length",
    "termination",
    "concatenation",
    "concatenation-unfinished",
    "checksum",
    "expiration",
)


def extensions(context: TusContext) -> tuple[str, ...]:
    if context.settings.expiration_seconds > 0:
        return EXTENSIONS
    return tuple(name for name in EXTENSIONS if name != "expiration")


async def options(context: TusContext, request: Request) -> Response:
    # 200 rather than 204: some browsers' CORS preflight handling rejects a 204.
    return Response(
        status_code=200,
        headers=tus_headers(
            {
                "Tus-Version": TUS_VERSION,
                "Tus-Extension": ",".join(extensions(context)),
                "Tus-Max-Size": str(context.settings.max_size),
                "Tus-Checksum-Algorithm": ",".join(ALGORITHMS),
            }
        ),
    )
