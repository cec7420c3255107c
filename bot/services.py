"""What handlers use, built once by the composition root, and the shape of a handler."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Set
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

from microsoft_agents.hosting.core import TurnContext

from bot.case_teams import CaseTeams
from bot.commands.parsing import ParsedCommand
from bot.proactive import Proactive
from evidence.anchoring import Anchoring
from evidence.cases import CaseRules, MembersOf
from evidence.checkpoints import CheckpointSigner, CheckpointStore
from evidence.holds import CaseHolds
from evidence.model import Case
from evidence.officers import Officer
from evidence.ports import (
    ChannelCreator,
    ChannelNames,
    Directory,
    EvidenceStore,
    FileSource,
    IntakeQueue,
    Mailer,
)
from evidence.records import Records, RecordsUnit, reading, run_unit
from worker.background import Background
from worker.jobs import JobRunner

if TYPE_CHECKING:
    from microsoft_teams.cards import AdaptiveCard

    from bot.exports import Exports

T = TypeVar("T")
TEAM_ROUNDS = 3
TEAM_LOOKUPS_AT_ONCE = 8


def utc_now() -> datetime:
    """The current time, in UTC."""
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class BotSettings:
    """The settings the conversation uses, filled by the composition root from the service's."""

    share_domains: frozenset[str]
    share_organisation_types: tuple[str, ...]
    share_days: tuple[int, int, int]  # minimum, default, maximum
    verify_inline_bytes: int
    public_url: str
    classification: str
    force_name: str  # named on the recipient's e-mail and page
    share_contact: str  # whom a recipient may ask about a share; "" for none


@dataclass(frozen=True, slots=True)
class Services:
    """The adapters behind the domain's ports, and the settings."""

    settings: BotSettings
    directory: Directory
    records: Records
    case_teams: CaseTeams
    case_rules: CaseRules
    proactive: Proactive
    evidence_store: EvidenceStore
    ingest_queue: IntakeQueue
    holds: CaseHolds
    checkpoint_signer: CheckpointSigner
    checkpoint_store: CheckpointStore
    jobs: JobRunner  # durable background jobs (verify, approve after re-verifying, export)
    graph_files: FileSource | None = None
    channel_creator: ChannelCreator | None = None
    channel_names: ChannelNames | None = None  # Graph, when the directory is Graph
    mailer: Mailer | None = None
    exports: Exports | None = None
    # In-process work only: a bundle's upload into the OneDrive session Teams hands over (the
    # session's URL is a credential, never written to the records).
    background: Background = field(default_factory=Background)
    now: Callable[[], datetime] = utc_now

    @property
    def anchoring(self) -> Anchoring:
        """Checkpoints of the custody chains: taken after decisions, checked by verification."""
        return Anchoring(self.records, self.checkpoint_signer, self.checkpoint_store, self.now)


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

    async def run_unit_with_teams(
        self, work: Callable[[RecordsUnit, MembersOf], Awaitable[T]], *, read_only: bool = False
    ) -> T:
        """Run `work` in a unit of the records, with case teams looked up outside the unit.

        A team lookup may go to Graph or the Teams connector; inside a unit it would hold the
        database's write lock (SQLite) for as long as the network takes. Teams in the cache are
        answered at once; for any other the unit is rolled back, the missing teams are fetched
        (at most 8 at a time), and `work` runs again with them — so, as for `run_unit`, `work`
        must do nothing but records calls. After a few rounds (teams keep expiring or new cases
        keep appearing) the last round looks teams up as it goes.

        `read_only`: `work` only reads; it runs in read units, which do not queue for the write
        lock.
        """
        records = reading(self.services.records) if read_only else self.services.records
        known: dict[str, frozenset[str]] = {}
        slots = asyncio.Semaphore(TEAM_LOOKUPS_AT_ONCE)

        async def bounded(case: Case) -> frozenset[str]:
            async with slots:
                return await self.members_of(case)

        for _ in range(TEAM_ROUNDS):
            missing: dict[str, Case] = {}
            attempt = _with_known_teams(work, self.services.case_teams, known, missing)
            try:
                return await run_unit(records, attempt)
            except _TeamsNeeded:
                pass
            found = await asyncio.gather(*(bounded(case) for case in missing.values()))
            known.update(zip(missing, found, strict=True))
        return await run_unit(records, lambda unit: work(unit, self.members_of))


class _TeamsNeeded(Exception):
    """The unit asked for case teams that are not known yet."""


def _with_known_teams(
    work: Callable[[RecordsUnit, MembersOf], Awaitable[T]],
    teams: CaseTeams,
    known: dict[str, frozenset[str]],
    missing: dict[str, Case],
) -> Callable[[RecordsUnit], Awaitable[T]]:
    async def members_of(case: Case) -> Set[str]:
        found = known.get(case.id)
        if found is None:
            found = teams.cached(case)
        if found is None:
            missing[case.id] = case
            return frozenset()  # provisional: the unit is rolled back and run again
        return found

    async def attempt(unit: RecordsUnit) -> T:
        missing.clear()
        try:
            result = await work(unit, members_of)
        except Exception:
            if missing:  # decided on a provisional team: not an answer
                raise _TeamsNeeded from None
            raise
        if missing:
            raise _TeamsNeeded
        return result

    return attempt


# A handler answers with a card, or None when it has already replied itself.
Handler = Callable[[Turn], Awaitable["AdaptiveCard | None"]]
