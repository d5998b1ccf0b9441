"""Who is asking, and what they may see.

Every request's credentials are read once by ``BearerBackend`` (an opaque token, a JWT, a signed
link, or anonymous when ``ALLOW_ANONYMOUS`` is on); ``identify`` is the one door every endpoint goes
through to learn the ``Principal``. A user sees and touches only their own uploads; another user's
answers exactly like one that does not exist. Admins see and act on everything.
"""

from __future__ import annotations

from starlette.requests import HTTPConnection

from app.auth.errors import AuthError
from app.auth.principal import ANONYMOUS, Principal


async def identify(request: HTTPConnection) -> Principal:
    """The principal the request is served as; 401 when it brought no credentials."""
    user = request.scope.get("user")
    if isinstance(user, Principal):
        return user
    raise AuthError("this needs credentials; send 'Authorization: Bearer <token>'")


def require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise AuthError("only an admin may do this", status=403)


__all__ = ["ANONYMOUS", "AuthError", "Principal", "identify", "require_admin"]
