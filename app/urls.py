"""The server's public base URL as a client sees it, also from behind a reverse proxy."""

from __future__ import annotations

from starlette.requests import Request


def _forwarded(value: str) -> dict[str, str]:
    """The first element of an RFC 7239 ``Forwarded`` header: the one the client's proxy added."""
    first = value.split(",", 1)[0]
    pairs: dict[str, str] = {}
    for pair in first.split(";"):
        name, _, raw = pair.strip().partition("=")
        if raw:
            pairs[name.lower()] = raw.strip().strip('"')
    return pairs


def public_base_url(request: Request, trust_proxy_headers: bool) -> str:
    """``scheme://host[:port]`` plus the app's root path, without a trailing slash."""
    # From the scope, not ``request.url``: parsing the whole URL costs more than this function's work.
    scheme = request.scope.get("scheme", "http")
    host = request.headers.get("host")
    if host is None:
        host = request.url.netloc
    if trust_proxy_headers:
        forwarded = _forwarded(request.headers.get("forwarded", ""))
        scheme = forwarded.get("proto") or _first(request.headers.get("x-forwarded-proto")) or scheme
        host = forwarded.get("host") or _first(request.headers.get("x-forwarded-host")) or host
    root_path = request.scope.get("root_path", "").rstrip("/")
    return f"{scheme}://{host}{root_path}"


def _first(value: str | None) -> str | None:
    return value.split(",", 1)[0].strip() or None if value else None
