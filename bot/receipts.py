"""Intake receipt cards once every file is in: reviews on the card itself (Universal Actions).

The finished receipt in the case channel is the exhibit card the team actually sees, so review
happens there: the base card shows each exhibit's reviews to everyone, and asks Teams to refresh
it for the case team but the producer (at most 60). Teams then sends each of them an
`exhibit.refresh` invoke and shows them the card answered for them — with `Mark reviewed` and
`Flag` on the exhibits they may review. Where Teams does not refresh (mobile, the Agents
Playground), `evidence show <ref>` shows the same buttons.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence, Set
from dataclasses import replace
from typing import TYPE_CHECKING

from microsoft_agents.hosting.core import TurnContext

from bot.case_teams import connector_accounts
from bot.replies import card_activity
from bot.services import Services
from bot.wording import job_failure_text
from cards.exhibits import ReceiptReviews, build_receipt_card
from evidence.cases import check_visible
from evidence.custody import CustodyEntry
from evidence.errors import CaseNotFound, DirectoryUnavailable, InvalidInput
from evidence.model import Case, Exhibit
from evidence.officers import Officer, Role
from evidence.policy import Decision, can_review
from evidence.records import IntakeJob, JobStatus, RecordsUnit, run_unit
from evidence.review import REVIEW_ACTIONS, reviews_of
from worker.ports import JobFailure

if TYPE_CHECKING:
    from microsoft_teams.cards import AdaptiveCard

logger = logging.getLogger(__name__)

MAX_RECEIPT_ID = 200
MAX_REDRAWS = 4  # a receipt redrawn by one report at most this often while its jobs change


async def receipt_contents(
    unit: RecordsUnit, receipt: str
) -> tuple[list[IntakeJob], dict[str, Exhibit]]:
    """The jobs of one receipt card, in the order the files came, and their exhibits by id."""
    jobs = sorted(
        await unit.jobs_with_receipt(receipt),
        key=lambda job: int((job.source_details or {}).get("index", 0)),
    )
    exhibits = {}
    for job in jobs:
        if job.exhibit_id:
            found = await unit.exhibit_by_id(job.exhibit_id)
            if found is not None:
                exhibits[found.id] = found
    return jobs, exhibits


def finished(jobs: Sequence[IntakeJob]) -> bool:
    """Every file is in or has failed, and at least one became an exhibit."""
    done = {JobStatus.COMPLETED, JobStatus.FAILED}
    return (
        bool(jobs)
        and all(job.status in done for job in jobs)
        and any(job.status is JobStatus.COMPLETED for job in jobs)
    )


async def reviewers(
    services: Services, context: TurnContext, jobs: Sequence[IntakeJob]
) -> list[str]:
    """Teams user ids of the conversation's members who could review, producers left out.

    Empty outside a channel, or when the connector or the directory cannot answer: the card
    then simply has no per-user view, and the team uses `evidence show`.
    """
    accounts = await connector_accounts(context) or {}
    producers = {job.officer_id.lower() for job in jobs}
    candidates = [object_id for object_id in accounts if object_id not in producers]
    if not candidates:
        return []
    try:
        officers = await services.directory.officers(candidates)
    except DirectoryUnavailable as err:
        logger.warning("Receipt reviewers unknown: %s", type(err).__name__)
        return []
    return [
        accounts[object_id]
        for object_id, officer in officers.items()
        if officer.enabled and (officer.has(Role.OFFICER) or officer.has(Role.APPROVER))
    ]


async def receipt_view_for(
    services: Services, officer: Officer, receipt: str, *, notice: str | None = None
) -> AdaptiveCard:
    """The finished receipt as `officer` should see it: reviews, and buttons where they may.

    Only for someone who may see the case: otherwise the refusal is recorded and `CaseNotFound`
    raised, as for an unknown receipt (`InvalidInput`), before any card is built. Viewing is not
    recorded as a case view: Teams asks for this every time a team member looks at the channel.
    """
    if not receipt or len(receipt) > MAX_RECEIPT_ID:
        raise InvalidInput("receipt", "that card is not known")

    async def load(unit: RecordsUnit) -> tuple[Case, list[IntakeJob], dict[str, Exhibit]]:
        jobs, exhibits = await receipt_contents(unit, receipt)
        case = await unit.case_by_id(jobs[0].case_id) if jobs else None
        if case is None:
            raise InvalidInput("receipt", "that card is not known")
        return case, jobs, exhibits

    case, jobs, exhibits = await run_unit(services.records, load)
    members = await services.case_teams.members(case)
    now = services.now()

    async def team(_case: Case) -> Set[str]:
        return members

    async def check(unit: RecordsUnit) -> tuple[Decision, list[CustodyEntry]]:
        decision = await check_visible(
            unit, officer, case, team, now=now, attempt={"attempt": "receipt refresh"}
        )
        if not decision.allowed:
            return decision, []
        return decision, list(await unit.custody_about(case.id, list(exhibits), REVIEW_ACTIONS))

    decision, chain = await run_unit(services.records, check)
    if not decision.allowed:
        raise CaseNotFound(None)  # the caller answers as for an unknown card: nothing of the case
    review = ReceiptReviews(
        receipt=receipt,
        marks={exhibit_id: reviews_of(exhibit_id, chain) for exhibit_id in exhibits},
        reviewable=frozenset(
            exhibit.id
            for exhibit in exhibits.values()
            if can_review(officer, case, exhibit, members).allowed
        ),
        notice=notice,
    )
    return build_receipt_card(case.reference, jobs, exhibits, review=review)


class ReceiptReports:
    """The worker's reports shown to officers: the receipt card redrawn in place."""

    def __init__(self, services: Services) -> None:
        self._services = services

    def failure_reason(self, failure: JobFailure) -> str:
        """What the officer is told about a failed job."""
        return job_failure_text(failure)

    async def job_changed(
        self, job: IntakeJob, case: Case, progress: Mapping[str, int] | None = None
    ) -> None:
        """Redraw the receipt card in place from the jobs' current state.

        Several workers redraw one receipt (one per file), and their updates may reach Teams in
        any order: after its update is taken, each reads the jobs again and redraws while they
        differ from what it drew, so the update taken last shows the final state.
        """
        if job.receipt_activity_id is None:
            return
        receipt = job.receipt_activity_id
        services = self._services
        drawn: tuple[tuple[str, str, str | None], ...] | None = None
        try:
            for _ in range(MAX_REDRAWS):
                jobs, exhibits = await run_unit(
                    services.records, lambda unit: receipt_contents(unit, receipt)
                )
                state = tuple((j.id, j.status.value, j.exhibit_id) for j in jobs)
                if state == drawn:
                    return
                if drawn is None and progress and job.declared_size is not None:
                    # The size the source declared on download is known to the reporting job.
                    jobs = [
                        replace(j, declared_size=job.declared_size)
                        if j.id == job.id and j.declared_size is None
                        else j
                        for j in jobs
                    ]
                shown = dict(progress) if progress and drawn is None else None
                redraw = self._redraw(case.reference, receipt, jobs, exhibits, shown)
                await services.proactive.run(job.conversation_reference, redraw)
                drawn = state
        except Exception as err:  # the card is a courtesy: the record is what counts
            logger.warning("Receipt card of job %s not updated: %s", job.id, type(err).__name__)

    def _redraw(
        self,
        case_reference: str,
        receipt: str,
        jobs: Sequence[IntakeJob],
        exhibits: Mapping[str, Exhibit],
        progress: dict[str, int] | None,
    ) -> Callable[[TurnContext], Awaitable[None]]:
        services = self._services

        async def redraw(context: TurnContext) -> None:
            review = None
            if finished(jobs):  # reviews start on the card: refreshed for the case team
                who = await reviewers(services, context, jobs)
                review = ReceiptReviews(receipt=receipt, refresh_for=who)
            card = build_receipt_card(case_reference, jobs, dict(exhibits), progress, review)
            await context.update_activity(card_activity(card).model_copy(update={"id": receipt}))

        return redraw
