"""Signed links, for what a browser fetches without headers (an ``<img>``, a download, an
``EventSource``): the path, who may follow it and until when, under an HMAC with the server's secret.

A link is good for one path, for GET and HEAD only, for ``SIGNED_URL_TTL`` seconds, so no long-lived
token ever sits in a URL, a browser history or a log line.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path
from urllib.parse import urlencode

from starlette.requests import HTTPConnection

from app.auth.errors import AuthError
from app.auth.principal import Principal

LINK_PARAMETERS = ("subject", "admin", "expires", "signature")


class LinkSigner:
    def __init__(self, secret: bytes, ttl_seconds: float) -> None:
        self.secret = secret
        self.ttl_seconds = ttl_seconds

    def query(self, path: str, principal: Principal) -> str:
        """The query string that lets ``principal`` follow a link to ``path`` for a while."""
        expires = str(int(time.time() + self.ttl_seconds))
        admin = "1" if principal.is_admin else "0"
        signature = self._signature(path, principal.subject, admin, expires)
        return urlencode({"subject": principal.subject, "admin": admin, "expires": expires, "signature": signature})

    def verify(self, connection: HTTPConnection) -> Principal:
        if connection.scope["method"] not in ("GET", "HEAD"):
            raise AuthError("signed links are for GET and HEAD only")
        params = connection.query_params
        subject, admin, expires, signature = (params.get(name, "") for name in LINK_PARAMETERS)
        expected = self._signature(connection.url.path, subject, admin, expires)
        if not hmac.compare_digest(signature.encode(), expected.encode()):
            raise AuthError("invalid link signature")
        if not expires.isascii() or not expires.isdigit() or int(expires) < time.time():
            raise AuthError("link expired; ask the API for a new one")
        return Principal(subject=subject, is_admin=admin == "1")

    def _signature(self, path: str, subject: str, admin: str, expires: str) -> str:
        message = "\n".join((path, subject, admin, expires)).encode()
        digest = hmac.new(self.secret, message, hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def is_signed_link(connection: HTTPConnection) -> bool:
    return "signature" in connection.query_params


def load_or_create_secret(configured: str, key_file: Path) -> bytes:
    """SECRET_KEY when set (it must be, when several servers sign links); otherwise a random key kept
    in the data folder, so links survive a restart of a single server."""
    if configured:
        return configured.encode()
    if key_file.exists():
        return key_file.read_bytes()
    key_file.parent.mkdir(parents=True, exist_ok=True)
    candidate = key_file.with_name(f"{key_file.name}.{secrets.token_hex(8)}")
    fd = os.open(candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with open(fd, "wb") as handle:
            handle.write(secrets.token_bytes(32))
        # A hard link appears whole or not at all: of two processes starting at once, one key wins.
        with contextlib.suppress(FileExistsError):
            os.link(candidate, key_file)
    finally:
        candidate.unlink(missing_ok=True)
    return key_file.read_bytes()
