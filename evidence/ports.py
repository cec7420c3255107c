"""Ports: what the domain needs from the outside world, as Protocols.

The records port (units of work over cases, exhibits, shares and custody) is `evidence.records`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from evidence.officers import Officer
from evidence.stored_blob import StoredBlob


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


class ChannelNames(Protocol):
    """Tells a Teams channel's display name (Graph, where Teams left it out of the activity)."""

    async def channel_name(self, team_id: str, channel_id: str) -> str | None:
        """The channel's display name; None when the team or channel is not one it can see.

        `team_id` is the team's Entra group id. Raises `DirectoryUnavailable` when the service
        cannot answer.
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


Progress = Callable[[int], Awaitable[None]]


class EvidenceStore(Protocol):
    """Blob storage per region; every method raises `StoreUnavailable` if storage is down."""

    @property
    def regions(self) -> tuple[str, ...]:
        """The regions this store can write to."""
        ...

    async def put(
        self,
        region: str,
        blob_name: str,
        chunks: AsyncIterator[bytes],
        *,
        content_type: str,
        metadata: Mapping[str, str],
        tags: Mapping[str, str],
        quick_xor: bool = False,
        max_size: int | None = None,
        on_progress: Progress | None = None,
    ) -> StoredBlob:
        """Stream `chunks` into a new blob, hashing on the way; commit only if none exists.

        Raises `BlobExists` (nothing overwritten), `EvidenceTooLarge` or `EmptyEvidence` (nothing
        committed). `on_progress` gets the bytes stored so far, increasing.
        """
        ...

    async def describe(self, region: str, blob_name: str) -> StoredBlob | None:
        """What was recorded when the blob was committed, or None if there is no such blob.

        Raises `UnrecognisedBlob` when the blob lacks the store's metadata.
        """
        ...

    async def rehash(
        self,
        region: str,
        blob_name: str,
        *,
        quick_xor: bool = False,
        on_progress: Progress | None = None,
    ) -> StoredBlob:
        """Read the stored bytes again and hash them now. Raises `BlobMissing`.

        `on_progress` gets the bytes read so far, increasing, as the read goes on (the next
        part is read only once it returns: a caller may pace the read by sleeping in it).
        """
        ...

    def read(self, region: str, blob_name: str) -> AsyncIterator[bytes]:
        """The committed blob's bytes, chunk by chunk (never whole); `BlobMissing` if absent."""
        ...

    async def read_head(self, region: str, blob_name: str, length: int) -> bytes:
        """The first `length` bytes of a committed blob (to sniff its type); or `BlobMissing`."""
        ...

    async def add_tags(self, region: str, blob_name: str, tags: Mapping[str, str]) -> None:
        """Add index tags to a committed blob (tags may change after commit; metadata cannot)."""
        ...

    async def exists(self, region: str, blob_name: str) -> bool:
        """Whether a committed blob has this name in this region."""
        ...

    async def locate(self, blob_name: str) -> tuple[str, ...]:
        """Every region whose storage holds a committed blob of this name (residency proof)."""
        ...

    async def discard_uncommitted(self, region: str, blob_name: str) -> bool:
        """Free the staged blocks a refused or failed put left; never touches a committed blob."""
        ...

    async def protect(self, region: str, blob_name: str, *, legal_hold: bool) -> None:
        """Make a committed blob immutable where the region supports it (nothing otherwise).

        A time-based retention policy, and a legal hold if `legal_hold`; safe to repeat.
        """
        ...


class IntakeQueue(Protocol):
    """The queue of intake jobs the workers take from (the job itself is in the records)."""

    async def send(self, job_id: str, *, delay_seconds: int = 0) -> None:
        """Queue the job's id for a worker; raises when the queue service does not answer."""
        ...


class FileReference(Protocol):
    """A file a Teams message points at, as listed with the message."""

    @property
    def name(self) -> str:
        """The file name as shown in Teams."""
        ...

    @property
    def content_url(self) -> str:
        """The file's SharePoint URL."""
        ...


class FileDetails(Protocol):
    """What SharePoint says about a file, recorded beside Exhibit's own hashes."""

    @property
    def name(self) -> str:
        """The file name SharePoint holds."""
        ...

    @property
    def size(self) -> int:
        """The size SharePoint declares."""
        ...

    @property
    def etag(self) -> str | None:
        """SharePoint's version tag of the file."""
        ...

    @property
    def quick_xor_hash(self) -> str | None:
        """SharePoint's QuickXorHash (base64), the only hash it guarantees."""
        ...

    @property
    def mime_type(self) -> str | None:
        """The type SharePoint declares."""
        ...

    @property
    def drive_id(self) -> str | None:
        """The drive the file lives in."""
        ...


class FileSource(Protocol):
    """Files shared in channels and group chats, read where Teams keeps them (SharePoint).

    Every method raises a `SourceError` when the source refuses or cannot answer.
    """

    async def attachments_of_channel_message(
        self,
        team_aad_group_id: str,
        channel_id: str,
        root_message_id: str,
        reply_id: str | None = None,
    ) -> Sequence[FileReference]:
        """The files attached to a channel post, or to one of its replies (`reply_id`)."""
        ...

    async def attachments_of_chat_message(
        self, chat_id: str, message_id: str
    ) -> Sequence[FileReference]:
        """The files attached to a message in a group (or 1:1) chat."""
        ...

    async def drive_item(self, content_url: str) -> FileDetails:
        """SharePoint's record of the file at `content_url`."""
        ...

    async def channel_drive_id(self, team_aad_group_id: str, channel_id: str) -> str:
        """The drive holding a channel's files."""
        ...

    async def user_drive_id(self, object_id: str) -> str:
        """The id of a user's OneDrive (where files shared in chats live)."""
        ...
