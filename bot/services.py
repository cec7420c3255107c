"""What handlers use, built once by the composition root, and the shape of a handler."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from microsoft_agents.hosting.core import TurnContext
from microsoft_teams.cards import AdaptiveCard

from bot.case_teams import CaseTeams
from bot.parsing import ParsedCommand
from bot.proactive import Proactive
from bot.settings import Settings
from evidence.cases import CaseRules
from evidence.model import Case
from evidence.officers import Officer
from evidence.ports import ChannelCreator, Directory, Mailer
from evidence.records import Records
from graph.files import GraphFileSource
from storage.evidence_store import BlobEvidenceStore
from storage.queue import IngestQueue


def utc_now() -> datetime:
    """The current time, in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Services:
    """The adapters behind the domain's ports, and the settings."""

    settings: Settings
    directory: Directory
    records: Records
    case_teams: CaseTeams
    case_rules: CaseRules
    proactive: Proactive
    evidence_store: BlobEvidenceStore
    ingest_queue: IngestQueue
    graph_files: GraphFileSource | None = None
    channel_creator: ChannelCreator | None = None
    mailer: Mailer | None = None
    now: Callable[[], datetime] = utc_now


@dataclass(frozen=True, slots=True)
class Turn:
    """One command from one resolved officer."""

    context: TurnContext
    officer: Officer
    command: ParsedCommand
    services: Services

    async def members_of(self, case: Case) -> frozenset[str]:
        """The case team, asking Teams through this turn when the turn is in its channel."""
        return await self.services.case_teams.members(case, self.context)


# A handler answers with a card, or None when it has already replied itself.
Handler = Callable[[Turn], Awaitable[AdaptiveCard | None]]
