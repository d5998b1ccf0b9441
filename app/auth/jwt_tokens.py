"""JSON Web Tokens from an issuer the deployment trusts, verified by PyJWT: a shared HS256 secret,
or an RS256/ES256 public key; issuer and audience when configured; expiry with a small leeway."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jwt

from app.auth.errors import AuthError
from app.auth.principal import Principal
from config import Settings


class JwtVerifier:
    def __init__(self, settings: Settings) -> None:
        self.key: Any = settings.jwt_secret or _public_key(settings.jwt_public_key)
        self.algorithms = list(settings.jwt_algorithms) or (["HS256"] if settings.jwt_secret else ["RS256", "ES256"])
        self.issuer = settings.jwt_issuer or None
        self.audience = settings.jwt_audience or None
        self.leeway = settings.jwt_leeway_seconds
        self.user_claim = settings.jwt_user_claim
        self.admin_claim = settings.jwt_admin_claim
        self.admin_value = settings.jwt_admin_value

    def verify(self, token: str) -> Principal:
        try:
            claims = jwt.decode(
                token,
                self.key,
                algorithms=self.algorithms,
                issuer=self.issuer,
                audience=self.audience,
                leeway=self.leeway,
                options={"require": ["exp"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthError("token expired") from None
        except jwt.InvalidAudienceError:
            raise AuthError("token is not meant for this server (audience)") from None
        except jwt.InvalidIssuerError:
            raise AuthError("token is from an issuer this server does not trust") from None
        except jwt.PyJWTError:
            raise AuthError("invalid token") from None
        subject = claims.get(self.user_claim)
        if not isinstance(subject, str) or not subject:
            raise AuthError(f"token has no {self.user_claim!r} claim naming the user")
        return Principal(subject=subject, is_admin=self._is_admin(claims.get(self.admin_claim)))

    def _is_admin(self, claim: object) -> bool:
        values = claim if isinstance(claim, list) else [claim]
        return self.admin_value in values


def _public_key(value: str) -> str:
    """The PEM text itself, or the path of a file holding it."""
    if "-----BEGIN" in value:
        return value
    return Path(value).read_text()
