"""Putting authentication together from settings: the middleware that reads credentials, the link
signer the API hands links out with, and how a refusal is rendered on each kind of endpoint."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from databases import Database
from starlette.middleware import Middleware
from starlette.middleware.authentication import AuthenticationMiddleware
from starlette.requests import HTTPConnection
from starlette.responses import Response

from app.auth.backend import BearerBackend
from app.auth.errors import AuthError, auth_error_response
from app.auth.links import LinkSigner, load_or_create_secret
from app.auth.tokens import OpaqueTokens
from config import Settings

# Extra headers for a refusal on a path (the tus endpoints add Tus-Resumable), and whether it is text.
RefusalStyle = Callable[[str], tuple[bool, dict[str, str]]]


@dataclass(frozen=True)
class Authentication:
    middleware: Middleware
    links: LinkSigner
    render: Callable[[HTTPConnection, Exception], Response]


def build_authentication(settings: Settings, database: Database, style: RefusalStyle) -> Authentication:
    secret = load_or_create_secret(settings.secret_key, settings.data_dir / "secret.key")
    links = LinkSigner(secret, settings.signed_url_ttl_seconds)
    jwt = None
    if settings.uses_jwt:
        from app.auth.jwt_tokens import JwtVerifier  # PyJWT and cryptography: about 8 MiB, only where used

        jwt = JwtVerifier(settings)
    backend = BearerBackend(OpaqueTokens(database), links, jwt, allow_anonymous=settings.allow_anonymous)

    def render(connection: HTTPConnection, exc: Exception) -> Response:
        assert isinstance(exc, AuthError)
        as_text, headers = style(connection.url.path)
        return auth_error_response(exc, as_text=as_text, headers=headers)

    return Authentication(Middleware(AuthenticationMiddleware, backend=backend, on_error=render), links, render)
