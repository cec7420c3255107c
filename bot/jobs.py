"""The bot's background jobs: what each kind runs, and how the officer hears of a failure.

The runner (`worker.jobs.JobRunner`) claims and runs them on whichever instance gets there
first; see `evidence.jobs` for the record and its lease.
"""

from __future__ import annotations

from bot import wording
from bot.commands.evidence import verify_job
from bot.commands.share_decision import approve_job
from bot.exports import export_job
from bot.replies import card_activity
from bot.services import Services
from evidence.jobs import Job, JobKind
from evidence.records import RecordsUnit, run_unit


def register_jobs(services: Services) -> None:
    """Let the services' runner run every kind of job, and tell officers of failures."""
    runner = services.jobs
    runner.register(JobKind.VERIFY, lambda job: verify_job(services, job))
    runner.register(JobKind.APPROVE, lambda job: approve_job(services, job))
    if services.exports is not None:
        runner.register(JobKind.EXPORT, lambda job: export_job(services, job))
    runner.on_failure(lambda job: tell_failure(services, job))


async def tell_failure(services: Services, job: Job) -> None:
    """Tell the officer, in the conversation they asked in, that their job failed for good."""
    case, what = await run_unit(services.records, lambda unit: _named(unit, job))
    card = wording.background_job_failed_card(job.kind, case, what)
    await services.proactive.send(job.reference, card_activity(card))


async def _named(unit: RecordsUnit, job: Job) -> tuple[str | None, str | None]:
    """The case reference and the exhibit or share the job is about, as far as recorded."""
    payload = job.payload
    share_id = payload.get("share_id")
    if isinstance(share_id, str):
        share = await unit.share(share_id)
        case = await unit.case_by_id(share.case_id) if share else None
        return (case.reference if case else None), share_id
    exhibit_id = payload.get("exhibit_id")
    exhibit = await unit.exhibit_by_id(exhibit_id) if isinstance(exhibit_id, str) else None
    case_id = payload.get("case_id")
    case = await unit.case_by_id(case_id) if isinstance(case_id, str) else None
    return (case.reference if case else None), (str(exhibit.ref) if exhibit else None)
