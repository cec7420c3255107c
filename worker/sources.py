"""Where a job's bytes come from, by the kind of file Teams announced."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from evidence.errors import ExhibitError
from evidence.model import SourceKind
from evidence.records import IntakeJob
from storage.sources import Download, HttpSource

if TYPE_CHECKING:  # only a Graph directory brings it (Graph's SDK is slow to import)
    from graph.files import GraphFileSource

BotToken = Callable[[], Awaitable[str | None]]


class SourceNotConfigured(ExhibitError):
    """This deployment cannot fetch this kind of file (e.g. channel files without Graph)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class TeamsSources:
    """Opens 1:1 uploads (plain GET), inline attachments (bot token) and SharePoint files."""

    def __init__(
        self, http: HttpSource, graph_files: GraphFileSource | None, bot_token: BotToken
    ) -> None:
        self._http = http
        self.graph_files = graph_files
        self._bot_token = bot_token

    async def open(self, job: IntakeJob) -> Download:
        """Start the download of `job`'s file."""
        kind = SourceKind(job.source_kind)
        if kind is SourceKind.TEAMS_FILE:
            # Pre-authenticated: a bearer token could get the request refused.
            return await self._http.open_download(job.source_url)
        if kind is SourceKind.BOT_ATTACHMENT:
            return await self._http.open_download(job.source_url, bearer=await self._bot_token())
        if self.graph_files is None:
            raise SourceNotConfigured("files posted in channels need the Graph directory")
        return await self.graph_files.open_drive_item(job.source_url)
