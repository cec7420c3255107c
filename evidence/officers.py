"""Officers as the force's directory describes them, and the roles they hold."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    """What an officer may do in Exhibit; granted through directory group membership."""

    OFFICER = "officer"
    APPROVER = "approver"
    AUDITOR = "auditor"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class Officer:
    """One person from the directory, as resolved at the time of asking."""

    object_id: str
    display_name: str
    given_name: str = ""
    surname: str = ""
    rank: str = ""
    unit: str = ""
    email: str = ""  # `mail`, else the user principal name
    phone: str = ""  # the first business phone, if the directory has one
    enabled: bool = True
    roles: frozenset[Role] = frozenset()

    @property
    def initials(self) -> str:
        """Initials used in exhibit references (`JS` for John Smith)."""
        parts = (
            [self.given_name, self.surname]
            if self.given_name and self.surname
            else (self.display_name.split())
        )
        letters = "".join(p[0] for p in parts if p and p[0].isalpha())
        return letters.upper() or "XX"

    def has(self, role: Role) -> bool:
        """Whether the officer holds `role`."""
        return role in self.roles
