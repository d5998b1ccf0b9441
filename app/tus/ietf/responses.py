"""How the draft's answers look: the headers every answer carries, and refusals, which name a problem
type (RFC 9457) in the interop versions that define one and are one line of plain text otherwise."""

from __future__ import annotations

from starlette.responses import JSONResponse, PlainTextResponse, Response

from app.tus.errors import TusError
from app.tus.ietf.versions import INTEROP_VERSION_HEADER, SUPPORTED_VERSIONS, InteropVersion


class UploadProblem(TusError):
    """A refusal the draft gives a problem type, with the type's extension members."""

    def __init__(
        self,
        status: int,
        message: str,
        problem: str,
        members: dict[str, int] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status, message, headers)
        self.problem = problem
        self.members = members or {}


class ProblemResponse(JSONResponse):
    media_type = "application/problem+json"


def draft_headers(version: InteropVersion, extra: dict[str, str] | None = None) -> dict[str, str]:
    # Echoed on every answer, not only on the 104 the draft asks it for, so a client can see which
    # revision the server answered in.
    return {INTEROP_VERSION_HEADER: str(version.number), **(extra or {})}


def refusal(version: InteropVersion, error: TusError) -> Response:
    # Refusals raised by the shared tus code may carry tus-only headers (Tus-Max-Size); the draft's
    # clients get Upload-Limit instead.
    headers = draft_headers(
        version, {name: value for name, value in error.headers.items() if not name.lower().startswith("tus-")}
    )
    problem_type = version.problem_type(error.problem) if isinstance(error, UploadProblem) else None
    if problem_type is not None and isinstance(error, UploadProblem):
        body = {"type": problem_type, "title": error.message, **error.members}
        return ProblemResponse(body, status_code=error.status, headers=headers)
    return PlainTextResponse(error.message + "\n", status_code=error.status, headers=headers)


def unsupported_version(requested: str) -> Response:
    spoken = ", ".join(SUPPORTED_VERSIONS)
    message = f"{INTEROP_VERSION_HEADER} {requested[:20]!r} is not one this server speaks ({spoken})"
    return PlainTextResponse(message + "\n", status_code=400)
