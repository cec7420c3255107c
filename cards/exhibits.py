"""Exhibit cards: intake receipts that turn into exhibits, one exhibit, a case's exhibits."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from cards.common import next_step, next_steps
from cards.models import ac
from cards.text import LONG, SHORT, TITLE, plain, wording
from cards.time import when
from cards.words import file_kind, region_name, size_text
from evidence.exhibits import Verification
from evidence.file_types import types_agree
from evidence.model import Exhibit
from evidence.records import IntakeJob, JobStatus
from evidence.review import Review, ReviewMark


def progress_text(received: int, total: int | None) -> str:
    """How much of a file has arrived: `12.0 of 48.0 MiB (25%)`, or `12.0 MiB` without a total.

    A total that turns out too small (the size Teams declared was wrong) is left out.
    """
    if not total or received > total:
        return size_text(received)
    percent = received * 100 // total
    done, whole = size_text(received), size_text(total)
    unit = whole.rpartition(" ")[2]
    if done.endswith(f" {unit}"):
        done = done.removesuffix(f" {unit}")
    return f"{done} of {whole} ({percent}%)"


def exhibit_facts(exhibit: Exhibit, case_reference: str) -> ac.Container:
    """What identifies an exhibit and its bytes (the hash in full, wrapped, to compare).

    The type is the kind of file its bytes show; when the sending device declared a type those
    bytes contradict, a warning above the facts says so in plain words.
    """
    facts = [
        ac.Fact(title="Exhibit", value=plain(f"{case_reference} {exhibit.ref}")),
        ac.Fact(title="File", value=_file_name(exhibit)),
        ac.Fact(title="Type", value=plain(file_kind(exhibit.detected_type))),
        ac.Fact(title="Size", value=size_text(exhibit.size)),
        ac.Fact(title="Produced by", value=plain(exhibit.produced_by_name)),
        ac.Fact(title="Region", value=plain(region_name(exhibit.region))),
    ]
    if exhibit.created_at is not None:
        facts.append(ac.Fact(title="Recorded", value=when(exhibit.created_at)))
    items: list[ac.CardElement] = []
    if exhibit.declared_type and not types_agree(exhibit.declared_type, exhibit.detected_type):
        facts.append(ac.Fact(title="Sent as", value=plain(file_kind(exhibit.declared_type))))
        items.append(
            ac.TextBlock(text=type_warning(exhibit), color="Attention", weight="Bolder", wrap=True)
        )
    return ac.Container(
        items=[
            *items,
            ac.FactSet(facts=facts),
            *hash_lines("SHA-256", exhibit.sha256),
        ]
    )


def type_warning(exhibit: Exhibit) -> str:
    """The warning shown when the bytes contradict the type the sending device declared."""
    return plain(
        f"\u26a0 The type does not match: sent as \u201c{file_kind(exhibit.declared_type)}\u201d, "
        f"but the contents are \u201c{file_kind(exhibit.detected_type)}\u201d. "
        "Check the file before relying on it.",
        limit=SHORT * 2,
    )


def _file_name(exhibit: Exhibit) -> str:
    return plain(exhibit.original_name, limit=TITLE)


REVIEW, FLAG, RECEIPT_REFRESH = "exhibit.review", "exhibit.flag", "exhibit.refresh"
MAX_REFRESH_USERS = 60  # Teams shows per-user views to at most 60 users


@dataclass(frozen=True, slots=True)
class ReceiptReviews:
    """The review part of a finished receipt, for one viewer or (base card) for everyone.

    `receipt` is the receipt's activity id (how the card finds its exhibits again), `marks` the
    reviews so far by exhibit id, `reviewable` the exhibits this viewer may review (they get the
    buttons), `refresh_for` the Teams user ids whose view Teams refreshes (Universal Actions).
    """

    receipt: str
    marks: Mapping[str, Sequence[ReviewMark]] = field(default_factory=dict)
    reviewable: frozenset[str] = frozenset()
    refresh_for: Sequence[str] = ()
    notice: str | None = None


def build_exhibit_card(
    exhibit: Exhibit,
    case_reference: str,
    *,
    headline: str | None = None,
    reviews: Sequence[ReviewMark] = (),
    with_review_actions: bool = False,
    notice: str | None = None,
    can_share: bool = False,
) -> ac.AdaptiveCard:
    """One exhibit, its reviews, (for the case team) `Mark reviewed` and `Flag`, and next steps:
    Verify, Custody and (for who may ask for one) Share."""
    body: list[ac.CardElement] = []
    if notice:
        body.append(
            ac.TextBlock(text=wording(notice), color="Attention", weight="Bolder", wrap=True)
        )
    if headline:
        body.append(ac.TextBlock(text=wording(headline), color="Good", weight="Bolder", wrap=True))
    body += [
        ac.TextBlock(text=f"Exhibit {exhibit.ref}", weight="Bolder", size="Large", wrap=True),
        exhibit_facts(exhibit, case_reference),
    ]
    body += _review_lines(reviews)
    if with_review_actions:
        body.append(_comment_input())
        body.append(_review_buttons({"exhibitId": exhibit.id}))
    ref = str(exhibit.ref)
    steps = [
        next_step("Verify", "evidence verify", case=case_reference, exhibit=ref),
        next_step("Custody", "custody", case=case_reference, exhibit=ref),
    ]
    if can_share:
        # `share <case-ref> JS/1` answers with the share form, which carries the case.
        steps.append(next_step("Share", "share", case=case_reference, exhibit=ref))
    body.append(next_steps(*steps))
    return ac.AdaptiveCard(body=body)


def _review_lines(reviews: Sequence[ReviewMark]) -> list[ac.CardElement]:
    if not reviews:
        return [ac.TextBlock(text="Not reviewed yet", is_subtle=True, wrap=True)]
    lines = []
    for mark in reviews:
        text = f"{mark.review.value.capitalize()} by {plain(mark.by)}, {when(mark.at)}"
        comment = plain(mark.comment or "", limit=LONG, multiline=True)
        lines.append(f"{text}: {comment}" if comment else text)
    flagged = any(mark.review is Review.FLAGGED for mark in reviews)
    return [
        ac.TextBlock(text="Review", weight="Bolder", color="Attention" if flagged else "Good"),
        *(ac.TextBlock(text=line, wrap=True, is_subtle=True) for line in lines),
    ]


def _comment_input() -> ac.TextInput:
    return ac.TextInput(
        id="comment", label="Comment (required to flag)", is_multiline=True, max_length=500
    )


def _review_buttons(data: dict[str, str]) -> ac.ActionSet:
    return ac.ActionSet(
        actions=[
            ac.ExecuteAction(title="Mark reviewed", verb=REVIEW, data=data, style="positive"),
            ac.ExecuteAction(title="Flag", verb=FLAG, data=data, style="destructive"),
        ]
    )


_STATUS = {
    JobStatus.QUEUED: "Waiting",
    JobStatus.RUNNING: "Receiving",
}


def build_receipt_card(
    case_reference: str,
    jobs: Sequence[IntakeJob],
    exhibits: dict[str, Exhibit],
    progress: dict[str, int] | None = None,
    review: ReceiptReviews | None = None,
) -> ac.AdaptiveCard:
    """The intake receipt: each file's state; completed files show as exhibits.

    With `review` (once every file is done), each exhibit shows its reviews, the viewer gets
    `Mark reviewed` / `Flag` for those they may review, and the card asks Teams to refresh it
    for `review.refresh_for` — the case team but the producer — so each of them gets the
    buttons in their own view (Universal Actions). Everyone else sees the card without buttons.
    """
    reference = plain(case_reference)
    done = sum(job.status is JobStatus.COMPLETED for job in jobs)
    failed = sum(job.status is JobStatus.FAILED for job in jobs)
    if done + failed < len(jobs):
        title = f"Receiving {len(jobs)} file{'s' if len(jobs) != 1 else ''} for {reference}"
    else:
        title = f"{done} exhibit{'s' if done != 1 else ''} recorded for {reference}"
    body: list[ac.CardElement] = [
        ac.TextBlock(text=title, weight="Bolder", size="Medium", wrap=True)
    ]
    if review is not None and review.notice:
        notice = ac.TextBlock(
            text=wording(review.notice), color="Attention", weight="Bolder", wrap=True
        )
        body.insert(0, notice)
    if failed:
        body.append(
            ac.TextBlock(
                text=f"{failed} file(s) could not be recorded.", color="Attention", wrap=True
            )
        )
    for job in jobs:
        exhibit = exhibits.get(job.exhibit_id or "")
        if job.status is JobStatus.COMPLETED and exhibit is not None:
            items: list[ac.CardElement] = [
                ac.TextBlock(
                    text=f"Exhibit {exhibit.ref}", weight="Bolder", color="Good", wrap=True
                ),
                exhibit_facts(exhibit, case_reference),
            ]
            if review is not None:
                items += _review_lines(review.marks.get(exhibit.id, ()))
                if exhibit.id in review.reviewable:
                    items.append(
                        _review_buttons({"exhibitId": exhibit.id, "receipt": review.receipt})
                    )
        elif job.status is JobStatus.FAILED:
            items = [
                ac.TextBlock(text=plain(job.file_name, limit=TITLE), weight="Bolder", wrap=True),
                ac.TextBlock(
                    text=wording(f"Not recorded: {job.error}", limit=SHORT * 2),
                    color="Attention",
                    wrap=True,
                ),
            ]
        else:
            received = (progress or {}).get(job.id)
            state = _STATUS.get(job.status, str(job.status))
            if received:
                state = f"Receiving \u2014 {progress_text(received, job.declared_size)}"
            items = [
                ac.TextBlock(text=plain(job.file_name, limit=TITLE), weight="Bolder", wrap=True),
                ac.TextBlock(text=state, is_subtle=True, wrap=True),
            ]
        body.append(ac.Container(separator=True, items=items))
    if review is not None and review.reviewable:
        body.append(_comment_input())
    card = ac.AdaptiveCard(body=body)
    if review is None:
        return card
    if review.refresh_for:
        card.refresh = ac.RefreshDefinition(
            action=ac.ExecuteAction(
                title="Refresh", verb=RECEIPT_REFRESH, data={"receipt": review.receipt}
            ),
            user_ids=list(review.refresh_for)[:MAX_REFRESH_USERS],
        )
    return card


def build_exhibit_list_card(
    case_reference: str, exhibits: Sequence[Exhibit], *, limit: int = 40
) -> ac.AdaptiveCard:
    """The exhibits of a case, in the order they were recorded."""
    body: list[ac.CardElement] = [
        ac.TextBlock(
            text=f"Exhibits of {plain(case_reference)}", weight="Bolder", size="Medium", wrap=True
        )
    ]
    if not exhibits:
        body.append(ac.TextBlock(text="No exhibits yet: send files with `add`.", wrap=True))
    for exhibit in exhibits[:limit]:
        body.append(
            ac.Container(
                separator=True,
                items=[
                    ac.TextBlock(text=f"**{exhibit.ref}** \u2014 {_file_name(exhibit)}", wrap=True),
                    ac.TextBlock(
                        text=f"{size_text(exhibit.size)} \u00b7 SHA-256 {exhibit.sha256[:16]}\u2026"
                        f" \u00b7 {plain(exhibit.produced_by_name)}",
                        is_subtle=True,
                        wrap=True,
                    ),
                ],
            )
        )
    if len(exhibits) > limit:
        body.append(ac.TextBlock(text=f"\u2026 and {len(exhibits) - limit} more.", is_subtle=True))
    return ac.AdaptiveCard(body=body)


def build_verify_card(case_reference: str, result: Verification) -> ac.AdaptiveCard:
    """The outcome of re-hashing a stored exhibit against its anchored intake entry."""
    exhibit = result.exhibit
    if result.matches:
        headline, color = "Verified: the stored file matches its intake hash.", "Good"
    else:
        headline, color = wording(f"NOT VERIFIED: {result.problem}."), "Attention"
    found = result.stored.sha256 if result.stored else "\u2014"
    recorded = result.recorded_sha256 or "\u2014"
    if result.intake is None:
        source = "no intake entry in the chain"
    elif result.anchored:
        source = f"chain entry {result.intake.sequence}, covered by a signed checkpoint"
    else:
        source = f"chain entry {result.intake.sequence}, not yet covered by a checkpoint"
    return ac.AdaptiveCard(
        body=[
            ac.TextBlock(text=headline, color=color, weight="Bolder", wrap=True),
            ac.TextBlock(
                text=plain(f"Exhibit {case_reference} {exhibit.ref}"), size="Large", wrap=True
            ),
            ac.FactSet(
                facts=[
                    ac.Fact(title="File", value=_file_name(exhibit)),
                    ac.Fact(title="Recorded in", value=source),
                    ac.Fact(title="Region", value=plain(region_name(exhibit.region))),
                ]
            ),
            *hash_lines("Intake SHA-256", recorded),
            *hash_lines("Stored SHA-256", found),
        ]
    )


def hash_lines(title: str, digest: str) -> list[ac.CardElement]:
    """A hash in full, wrapped, to compare by eye (a fact's value would be cut off)."""
    return [
        ac.TextBlock(text=title, weight="Bolder", wrap=True),
        ac.TextBlock(text=plain(digest), font_type="Monospace", size="Small", wrap=True),
    ]
