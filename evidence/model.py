"""Cases, exhibits and intake jobs: the records Exhibit keeps."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from evidence.errors import InvalidInput

EXHIBIT_REF = re.compile(r"^(?P<initials>[A-Z]{1,4})/(?P<number>[1-9][0-9]{0,5})$")


@dataclass(frozen=True, slots=True)
class ChannelBinding:
    """The Teams channel a case is bound to, and how to post there later (proactively)."""

    team_id: str  # Bot Framework team id (19:...@thread.tacv2)
    channel_id: str
    graph_team_id: str | None  # Entra group id of the team, for Graph calls
    conversation_reference: str  # the SDK's ConversationReference as JSON, opaque here
    tenant_id: str
    # The channel's display name as Teams last told it (user text); None while not known.
    name: str | None = None


@dataclass(frozen=True, slots=True)
class LegalHold:
    """A case's legal hold: its evidence must be kept unchanged until it is lifted."""

    reason: str
    since: datetime
    by_id: str  # Entra object id of the approver or admin who set it
    by_name: str


@dataclass(frozen=True, slots=True)
class Case:
    """An investigation whose evidence lives in one region."""

    id: str
    reference: str
    title: str
    region: str
    created_by: str  # Entra object id
    created_at: datetime
    channel: ChannelBinding | None = None
    hold: LegalHold | None = None


@dataclass(frozen=True, slots=True)
class ExhibitRef:
    """`JS/1`: the producing officer's initials and a running number within the case."""

    initials: str
    number: int

    def __str__(self) -> str:
        return f"{self.initials}/{self.number}"

    @classmethod
    def parse(cls, text: str) -> ExhibitRef:
        """Read `JS/1` (case-insensitive); raise `InvalidInput` otherwise."""
        match = EXHIBIT_REF.match(text.strip().upper())
        if match is None:
            raise InvalidInput("exhibit reference", f"{text!r} is not like JS/1")
        return cls(match["initials"], int(match["number"]))


class SourceKind(StrEnum):
    """Where an exhibit's bytes came from."""

    TEAMS_FILE = "teams_file"  # 1:1 chat upload: pre-authenticated downloadUrl
    BOT_ATTACHMENT = "bot_attachment"  # inline image etc.: needs the bot's token
    SHAREPOINT = "sharepoint"  # channel/group chat file, through Graph's driveItem


@dataclass(frozen=True, slots=True)
class Exhibit:
    """A file recorded as evidence: its bytes are committed in the case's region."""

    id: str
    case_id: str
    ref: ExhibitRef
    produced_by: str  # Entra object id
    produced_by_name: str
    original_name: str
    stored_name: str  # sanitized
    declared_type: str
    detected_type: str
    size: int
    sha256: str  # hex
    region: str
    blob_name: str
    source: SourceKind
    source_details: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None
