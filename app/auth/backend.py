"""Reading the credentials of every request once, before any endpoint runs (Starlette's
authentication middleware calls ``authenticate``); ``identify`` then hands endpoints the result."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.authentication import AuthCredentials, AuthenticationBackend
from starlette.requests import HTTPConnection

from app.auth.errors import AuthError
from app.auth.links import LinkSigner, is_signed_link
from app.auth.principal import ANONYMOUS, Principal
from app.auth.tokens import OpaqueTokens, is_opaque

if TYPE_CHECKING:
    from app.auth.jwt_tokens import JwtVerifier

# Liveness and readiness probes come from orchestrators that hold no token.
PUBLIC_PATHS = frozenset({"/healthz", "/readyz"})


class BearerBackend(AuthenticationBackend):
    def __init__(
        self, tokens: OpaqueTokens, links: LinkSigner, jwt: JwtVerifier | None, *, allow_anonymous: bool
    ) -> None:
        self.tokens = tokens
        self.links = links
        self.jwt = jwt
        self.allow_anonymous = allow_anonymous

    async def authenticate(self, conn: HTTPConnection) -> tuple[AuthCredentials, Principal] | None:
        # OPTIONS is capability discovery and CORS preflight: nothing in it is anyone's.
        if conn.scope.get("method") == "OPTIONS" or conn.scope["path"] in PUBLIC_PATHS:
            return None
        principal = await self._principal(conn)
        if principal is None:
            return None
        return AuthCredentials(["admin"] if principal.is_admin else []), principal

    async def _principal(self, conn: HTTPConnection) -> Principal | None:
        header = conn.headers.get("authorization")
        if header is None:
            if is_signed_link(conn):
                return self.links.verify(conn)
            return ANONYMOUS if self.allow_anonymous else None
        scheme, _, credentials = header.strip().partition(" ")
        token = credentials.strip()
        if scheme.lower() != "bearer" or not token or " " in token:
            raise AuthError("malformed Authorization header; send 'Authorization: Bearer <token>'")
        if is_opaque(token):
            return await self.tokens.verify(token)
        if self.jwt is not None:
            return self.jwt.verify(token)
        raise AuthError("unknown token")
