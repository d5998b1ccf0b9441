"""Who is asking, and what they may see.

Every request, on the tus endpoints and the API alike, goes through ``identify``. Tokens are not
implemented yet: everyone is the anonymous user, who owns the uploads made anonymously.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request


@dataclass(frozen=True)
class Principal:
    subject: str
    is_admin: bool = False

    def may_access(self, owner: str) -> bool:
        return self.is_admin or owner == self.subject

    @property
    def owner_filter(self) -> str | None:
        """The owner to restrict listings to; None for admins, who see everything."""
        return None if self.is_admin else self.subject


ANONYMOUS = Principal(subject="anonymous")


async def identify(request: Request) -> Principal:
    return ANONYMOUS
