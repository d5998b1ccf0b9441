"""The one error type of authentication, and how it looks to a client."""

from __future__ import annotations

from starlette.authentication import AuthenticationError
from starlette.responses import JSONResponse, PlainTextResponse, Response


class AuthError(AuthenticationError):
    """Credentials missing, malformed, unknown, revoked or expired (401), or not enough (403)."""

    def __init__(self, message: str, status: int = 401) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


def auth_error_response(error: AuthError, *, as_text: bool, headers: dict[str, str] | None = None) -> Response:
    """401 carries the challenge a client needs to know what to send; tus clients get plain text,
    API clients JSON, like every other refusal they see."""
    all_headers = {"WWW-Authenticate": 'Bearer realm="tusmedia"'} if error.status == 401 else {}
    all_headers.update(headers or {})
    if as_text:
        return PlainTextResponse(error.message + "\n", status_code=error.status, headers=all_headers)
    return JSONResponse({"error": error.message}, status_code=error.status, headers=all_headers)
