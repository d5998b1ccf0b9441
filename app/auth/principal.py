"""Who is asking: the principal every request is served as."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.authentication import BaseUser


@dataclass(frozen=True)
class Principal(BaseUser):
    subject: str
    is_admin: bool = False

    @property
    def is_authenticated(self) -> bool:
        return True

    @property
    def display_name(self) -> str:
        return self.subject

    def may_access(self, owner: str) -> bool:
        return self.is_admin or owner == self.subject

    @property
    def owner_filter(self) -> str | None:
        """The owner to restrict listings to; None for admins, who see everything."""
        return None if self.is_admin else self.subject


# Everyone, when ALLOW_ANONYMOUS is on: one ordinary user who owns the uploads made anonymously.
ANONYMOUS = Principal(subject="anonymous")
