"""The one error type of the protocol layer, and the one place it becomes a response."""

from __future__ import annotations

import errno
import logging
from collections.abc import Iterator
from contextlib import contextmanager

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from app.storage import OffsetMismatch, StorageUnavailable, UploadNotFound
from app.tus.headers import TUS_RESUMABLE, TUS_VERSION

log = logging.getLogger(__name__)


class TusError(Exception):
    """A request the protocol refuses: an HTTP status and a one-line reason for the body."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


@contextmanager
def storage_errors_as_tus_errors() -> Iterator[None]:
    """The storage layer's refusals, in HTTP terms; every protocol dialect renders them its own way."""
    try:
        yield
    except UploadNotFound:
        raise TusError(404, "upload not found") from None
    except OffsetMismatch as mismatch:
        # Another writer moved the offset between the request's check and its write.
        raise offset_mismatch(mismatch.expected, mismatch.actual) from None
    except StorageUnavailable as failure:
        raise TusError(503, f"{failure}; try again shortly", {"Retry-After": "5"}) from None
    except OSError as error:
        if error.errno not in (errno.ENOSPC, errno.EDQUOT):
            raise
        # Body writes say how much they kept themselves; this is the rest (a create, an info file).
        raise TusError(507, "the server's disk is full; try again when there is room") from None


def offset_mismatch(provided: int, actual: int) -> TusError:
    """409 for a body sent at the wrong offset, saying where the upload stands so the client can
    resume without another HEAD."""
    return TusError(
        409, f"Upload-Offset {provided} does not match the upload's offset {actual}", {"Upload-Offset": str(actual)}
    )


def tus_headers(extra: dict[str, str] | None = None) -> dict[str, str]:
    headers = {"Tus-Resumable": TUS_RESUMABLE}
    if extra:
        headers.update(extra)
    return headers


async def render_tus_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, TusError)
    if exc.status == 412:
        exc.headers.setdefault("Tus-Version", TUS_VERSION)
    return PlainTextResponse(exc.message + "\n", status_code=exc.status, headers=tus_headers(exc.headers))
