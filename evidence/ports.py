"""Ports: what the domain needs from the outside world, as Protocols."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Protocol

from evidence.officers import Officer


class Directory(Protocol):
    """The force's directory of officers (Entra ID through Graph, or a local file)."""

    @property
    def source(self) -> str:
        """A short name of where answers come from (`graph`, `local`)."""
        ...

    async def officer(self, object_id: str, *, fresh: bool = False) -> Officer | None:
        """The officer with this Entra object id, or None if unknown.

        `fresh`: ask the directory itself now, past any cache (and never an old answer when it
        cannot be asked) — for decisions, which must see a role removed a moment ago.
        Raises `DirectoryUnavailable` when the directory cannot answer.
        """
        ...

    async def officers(self, object_ids: Iterable[str]) -> Mapping[str, Officer]:
        """The known officers among `object_ids`, keyed by the ids as given.

        Unknown ids are left out. Raises `DirectoryUnavailable` when any id cannot be resolved.
        """
        ...

    async def channel_members(
        self, team_id: str, channel_id: str, *, fresh: bool = False
    ) -> frozenset[str]:
        """Entra object ids of the members of a Teams channel (empty if the channel is unknown).

        `fresh`: as for `officer`. Raises `DirectoryUnavailable` when the directory cannot answer.
        """
        ...


class ChannelCreator(Protocol):
    """Creates Teams channels, for cases that get a channel of their own."""

    async def create_channel(self, team_id: str, display_name: str, description: str) -> str:
        """Create a standard channel in the team and return its id.

        Raises `InvalidInput` when Teams refuses the name (taken, too long, bad characters)
        and `DirectoryUnavailable` when the service cannot answer.
        """
        ...


@dataclass(frozen=True, slots=True)
class MailMessage:
    """One e-mail to one recipient: a subject and an HTML body (already escaped)."""

    to: str
    subject: str
    html: str


class Mailer(Protocol):
    """Sends e-mail from the force's configured mailbox."""

    @property
    def sender(self) -> str:
        """The mailbox mail is sent from."""
        ...

    async def send(self, message: MailMessage) -> None:
        """Hand the message to the mail service; `MailNotSent` if it was not accepted."""
        ...
