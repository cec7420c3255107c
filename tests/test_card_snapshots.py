"""Golden snapshots of every card builder, in the states people see.

Each card is built from fixed domain objects and compared, as the JSON Teams receives, with
tests/golden/<name>.json; a changed card shows as a diff of that file, reviewed like code.
After an intended change, regenerate with
`EXHIBIT_UPDATE_GOLDEN=1 pytest tests/test_card_snapshots.py` and read the diff. A missing
golden file fails: nothing is written unless asked. (The help card's golden file,
help_card.json, is checked by tests/test_conversation.py.)
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from microsoft_teams.cards import AdaptiveCard

from bot.replies import card_payload
from cards.cases import CONSULT, build_case_card, build_case_list_card, build_reason_card
from cards.common import Tone, build_notice_card
from cards.custody import build_custody_card, build_custody_views_card
from cards.exhibits import (
    ReceiptReviews,
    build_exhibit_card,
    build_exhibit_list_card,
    build_receipt_card,
    build_verify_card,
    progress_text,
)
from cards.integrity import build_integrity_alert_card
from cards.officer import build_whoami_card
from cards.sharing import (
    build_approval_card,
    build_link_card,
    build_rejection_card,
    build_share_form,
    build_share_list_card,
)
from evidence.anchoring import AnchoredReport, Finding, FindingKind
from evidence.custody import CustodyEntry
from evidence.custody_story import exhibit_story, page_before
from evidence.exhibits import CustodyView, Verification
from evidence.model import Case, ChannelBinding, Exhibit, ExhibitRef, LegalHold, SourceKind
from evidence.records import IntakeJob, JobStatus
from evidence.review import Review, ReviewMark
from evidence.shares import Share, ShareStatus
from evidence.stored_blob import StoredBlob
from evidence.sweeps import AlertTarget, IntegrityAlert
from tests.support.people import JANE, RAVI, SARAH, TOM

GOLDEN = Path(__file__).parent / "golden"
UPDATE = os.environ.get("EXHIBIT_UPDATE_GOLDEN") == "1"
NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
REFERENCE = "MET-26-0001"
SHARE_URL = "https://exhibit.example.police.uk/s/" + "A" * 43

# -- fixed domain objects ---------------------------------------------------------------------

CASE = Case("case-1", REFERENCE, "Burglary at 12 High Street", "uksouth", JANE.object_id, NOW)
CHANNEL = ChannelBinding(
    "19:team@thread.tacv2",
    "19:exhibit-case-channel@thread.tacv2",
    "7b3f9e21-4c5d-4e6f-8a7b-9c0d1e2f3a4b",
    "{}",
    "tenant",
    name="Case MET-26-0002 [towpath]",
)
BOUND_CASE = Case(
    "case-2",
    "MET-26-0002",
    "Robbery on the towpath",
    "ukwest",
    JANE.object_id,
    NOW,
    channel=CHANNEL,
)


def exhibit(number: int, name: str, detected: str, size: int) -> Exhibit:
    return Exhibit(
        id=f"ex-{number}",
        case_id="case-1",
        ref=ExhibitRef("JS", number),
        produced_by=JANE.object_id,
        produced_by_name=JANE.name,
        original_name=name,
        stored_name=name,
        declared_type=detected,
        detected_type=detected,
        size=size,
        sha256=f"{number:x}" * 64,
        region="uksouth",
        blob_name=f"case-1/ex-{number}",
        source=SourceKind.TEAMS_FILE,
        created_at=NOW + timedelta(minutes=number),
    )


DOOR = exhibit(1, "door.jpg", "image/jpeg", 301_234)
STATEMENT = exhibit(2, "statement.pdf", "application/pdf", 50_010)
REVIEWED = ReviewMark(Review.REVIEWED, RAVI.name, NOW + timedelta(hours=1), None)
FLAGGED = ReviewMark(Review.FLAGGED, SARAH.name, NOW + timedelta(hours=2), "faces not redacted")


FORM_ID = "5f0c1d2e3a4b4c5d8e9f0a1b2c3d4e5f"


def share(status: ShareStatus, **changes: Any) -> Share:
    pending = Share(
        id="S-0123456789",
        case_id="case-1",
        exhibit_ids=("ex-1", "ex-2"),
        requested_by=JANE.object_id,
        requested_by_name=JANE.name,
        recipient="lawyer@cps.gov.uk",
        organisation_type="cps",
        reason="trial bundle",
        days=14,
        status=ShareStatus.PENDING,
        created_at=NOW,
        request_expires_at=NOW + timedelta(days=7),
    )
    if status in {ShareStatus.PENDING, ShareStatus.EXPIRED}:
        return replace(pending, status=status, **changes)
    decided = NOW + timedelta(hours=3)
    revoked = {}
    if status is ShareStatus.REVOKED:
        revoked = {"revoked_by": JANE.object_id, "revoked_by_name": JANE.name,
                   "revoked_at": decided + timedelta(hours=1)}  # fmt: skip
    return replace(
        pending,
        status=status,
        decided_by=SARAH.object_id,
        decided_by_name=SARAH.name,
        decided_at=decided,
        link_expires_at=decided + timedelta(days=14),
        **{**revoked, **changes},
    )


def job(number: int, name: str, status: JobStatus, **changes: Any) -> IntakeJob:
    changes.setdefault("declared_size", None)
    return IntakeJob(
        id=f"job-{number}",
        case_id="case-1",
        officer_id=JANE.object_id,
        officer_name=JANE.name,
        source_kind=SourceKind.TEAMS_FILE.value,
        source_url=f"https://contoso.sharepoint.com/{name}",
        file_name=name,
        declared_type="",
        status=status,
        attempts=1,
        created_at=NOW,
        updated_at=NOW,
        conversation_reference="{}",
        exhibit_id=f"ex-{number}" if status is JobStatus.COMPLETED else None,
        **changes,
    )


def intake_entry(exhibit: Exhibit) -> CustodyEntry:
    """The exhibit's `intake.completed` entry, as the chain holds it."""
    return CustodyEntry(
        chain="case-1", sequence=3, at=NOW, actor_id="jane", actor_name="Jane Smith",
        case_id="case-1", exhibit_id=exhibit.id, action="intake.completed",
        details={"sha256": exhibit.sha256, "size": exhibit.size},
        previous_hash="2" * 64, hash="3" * 64,
    )  # fmt: skip


def custody(report: AnchoredReport) -> CustodyView:
    entries = [
        CustodyEntry(
            chain="case-1",
            sequence=sequence,
            at=NOW + timedelta(minutes=sequence),
            actor_id=actor_id,
            actor_name=actor_name,
            case_id="case-1",
            exhibit_id="ex-1",
            action=action,
            details={},
            previous_hash=f"{sequence - 1:x}" * 64,
            hash=f"{sequence:x}" * 64,
        )
        for sequence, actor_id, actor_name, action in [
            (1, JANE.object_id, JANE.name, "exhibit.recorded"),
            (2, RAVI.object_id, RAVI.name, "exhibit.reviewed"),
            (3, "external:S-0123456789", "lawyer@cps.gov.uk", "link.opened"),
        ]
    ]
    return CustodyView(CASE, DOOR, entries, report)


def custody_story() -> CustodyView:
    """A story longer than a page: intake, verification, review, two shares, views, a download."""
    steps: list[tuple[str, str, str | None, dict[str, Any]]] = [
        (JANE.name, "intake.started", None, {"job": DOOR.id, "file_name": "door.jpg"}),
        (JANE.name, "intake.completed", None, {"job": DOOR.id, "sha256": DOOR.sha256}),
        (JANE.name, "exhibit.viewed", DOOR.id, {}),
        (JANE.name, "exhibit.verified", DOOR.id, {"matches": True}),
        (RAVI.name, "exhibit.reviewed", DOOR.id, {}),
        (JANE.name, "share.requested", None, {"share": "S-1", "exhibits": ["JS/1"],
            "recipient": "lawyer@cps.gov.uk", "organisation_type": "prosecutor",
            "reason": "bundle"}),
        (JANE.name, "share.requested", None, {"share": "S-9", "exhibits": ["JS/2"],
            "recipient": "clerk@court.gov.uk", "organisation_type": "court", "reason": "x"}),
        (RAVI.name, "share.rejected", None, {"share": "S-1", "note": "say which trial"}),
        (RAVI.name, "share.approved", None, {"share": "S-9", "note": None}),
        (RAVI.name, "custody.viewed", DOOR.id, {}),
        (JANE.name, "share.requested", None, {"share": "S-2", "exhibits": ["JS/1"],
            "recipient": "lawyer@cps.gov.uk", "organisation_type": "prosecutor",
            "reason": "trial bundle"}),
        (RAVI.name, "share.approved", None, {"share": "S-2", "note": None}),
        ("Exhibit", "share.link_delivered", None, {"share": "S-2", "via": "personal chat"}),
        ("lawyer@cps.gov.uk", "link.opened", None, {"share": "S-2"}),
        ("lawyer@cps.gov.uk", "exhibit.downloaded", DOOR.id, {"share": "S-2", "downloads": 1}),
        (JANE.name, "exhibit.verified", DOOR.id, {"matches": True}),
        (JANE.name, "exhibit.flagged", DOOR.id, {"comment": "blurred"}),
        (JANE.name, "exhibit.verified", DOOR.id, {"matches": True}),
        (JANE.name, "exhibit.verified", DOOR.id, {"matches": True}),
        (JANE.name, "exhibit.verified", DOOR.id, {"matches": True}),
        (JANE.name, "exhibit.verified", DOOR.id, {"matches": True}),
        (JANE.name, "share.revoked", None, {"share": "S-2", "note": "trial moved"}),
        (TOM.name, "custody.viewed", DOOR.id, {"reason": "complaint 42"}),
    ]  # fmt: skip
    chain = [
        CustodyEntry(
            chain="case-1",
            sequence=number,
            at=NOW + timedelta(minutes=number),
            actor_id="id",
            actor_name=name,
            case_id="case-1",
            exhibit_id=exhibit_id,
            action=action,
            details=details,
            previous_hash=f"{number - 1:x}" * 64,
            hash=f"{number:x}" * 64,
        )
        for number, (name, action, exhibit_id, details) in enumerate(steps, start=1)
    ]
    story = exhibit_story(chain, DOOR)
    page = page_before(story.entries, None)
    report = AnchoredReport("case-1", len(chain), anchored_sequence=20, anchored_at=NOW)
    return CustodyView(CASE, DOOR, page.entries, report, page.earlier, story.views, story.shares)


# -- the cards, by golden file name ------------------------------------------------------------

MIB = 1024 * 1024
RECEIVING = [
    job(1, "door.jpg", JobStatus.COMPLETED),
    job(2, "statement.pdf", JobStatus.RUNNING),
    job(3, "notes.txt", JobStatus.QUEUED),
]
FINISHED = [
    job(1, "door.jpg", JobStatus.COMPLETED),
    job(2, "statement.pdf", JobStatus.COMPLETED),
    job(3, "archive.zip", JobStatus.FAILED, error="the file type is not accepted"),
]
EXHIBITS = {"ex-1": DOOR, "ex-2": STATEMENT}
APPROVERS = (RAVI.teams_id, SARAH.teams_id)

CARDS: dict[str, Callable[[], AdaptiveCard]] = {
    "notice_info": lambda: build_notice_card(
        "Check the share", "There is no share S-1.", Tone.INFO
    ),
    "notice_good": lambda: build_notice_card("Done", "The link was sent again.", Tone.GOOD),
    "notice_warning": lambda: build_notice_card("Not now", "Try again later.", Tone.WARNING),
    "notice_attention": lambda: build_notice_card("Refused", "Not on the team.", Tone.ATTENTION),
    "case_opened": lambda: build_case_card(
        CASE, exhibits=0, open_shares=0, headline="Case opened."
    ),
    "case_bound": lambda: build_case_card(BOUND_CASE, exhibits=2, open_shares=1),
    "case_bound_name_unknown": lambda: build_case_card(
        replace(BOUND_CASE, channel=replace(CHANNEL, name=None)),
        exhibits=0,
        open_shares=0,
    ),
    "case_on_hold": lambda: build_case_card(
        replace(CASE, hold=LegalHold("defence disclosure request", NOW, RAVI.object_id, RAVI.name)),
        exhibits=2,
        open_shares=0,
        headline="Legal hold set.",
        notice="2 files held in storage in uksouth.",
    ),
    "case_hold_incomplete": lambda: build_case_card(
        replace(CASE, hold=LegalHold("appeal pending", NOW, RAVI.object_id, RAVI.name)),
        exhibits=3,
        open_shares=0,
        headline="Legal hold set on the case; storage did not finish.",
        notice="Held in storage: 1 file. Not held yet: 2 files, as storage did not answer.",
    ),
    "reason_please": lambda: build_reason_card("case show MET-26-0001", REFERENCE, CONSULT),
    "case_list": lambda: build_case_list_card([CASE, BOUND_CASE]),
    "case_list_empty": lambda: build_case_list_card([]),
    "exhibit": lambda: build_exhibit_card(DOOR, REFERENCE),
    "exhibit_for_an_officer": lambda: build_exhibit_card(DOOR, REFERENCE, can_share=True),
    "exhibit_reviewed_with_buttons": lambda: build_exhibit_card(
        DOOR,
        REFERENCE,
        headline="Marked reviewed.",
        reviews=[REVIEWED],
        with_review_actions=True,
    ),
    # The bytes are a Windows program, the device said JPEG: a visible warning, both kinds.
    "exhibit_type_mismatch": lambda: build_exhibit_card(
        replace(DOOR, declared_type="image/jpeg", detected_type="application/x-msdownload"),
        REFERENCE,
    ),
    "exhibit_flagged": lambda: build_exhibit_card(
        DOOR, REFERENCE, reviews=[REVIEWED, FLAGGED], notice="This exhibit is flagged."
    ),
    "receipt_in_progress": lambda: build_receipt_card(
        REFERENCE, RECEIVING, {"ex-1": DOOR}, progress={"job-2": 20_000}
    ),
    "receipt_in_progress_with_total": lambda: build_receipt_card(
        REFERENCE,
        [
            job(2, "interview.mp4", JobStatus.RUNNING, declared_size=48 * MIB),
            job(3, "cctv.mp4", JobStatus.RUNNING),
        ],
        {},
        progress={"job-2": 12 * MIB, "job-3": 3 * MIB},
    ),
    "receipt_finished": lambda: build_receipt_card(REFERENCE, FINISHED, EXHIBITS),
    "receipt_finished_for_a_reviewer": lambda: build_receipt_card(
        REFERENCE,
        FINISHED,
        EXHIBITS,
        review=ReceiptReviews(
            receipt="activity-7",
            marks={"ex-1": [REVIEWED, FLAGGED]},
            reviewable=frozenset({"ex-2"}),
            refresh_for=APPROVERS,
            notice="You cannot review your own exhibits.",
        ),
    ),
    "exhibit_list": lambda: build_exhibit_list_card(REFERENCE, [DOOR, STATEMENT]),
    "exhibit_list_empty": lambda: build_exhibit_list_card(REFERENCE, []),
    "verify_match": lambda: build_verify_card(
        REFERENCE,
        Verification(
            DOOR,
            StoredBlob("uksouth", "b", DOOR.size, DOOR.sha256, None),
            True,
            intake=intake_entry(DOOR),
            chain=AnchoredReport("case-1", 4, anchored_sequence=4, anchored_at=NOW),
        ),
    ),
    "verify_mismatch": lambda: build_verify_card(
        REFERENCE,
        Verification(
            DOOR,
            StoredBlob("uksouth", "b", DOOR.size, "e" * 64, None),
            False,
            "the stored file's SHA-256 differs from the one recorded at intake (entry 3)",
            intake=intake_entry(DOOR),
            chain=AnchoredReport("case-1", 4, anchored_sequence=2, anchored_at=NOW),
        ),
    ),
    "verify_missing": lambda: build_verify_card(
        REFERENCE, Verification(DOOR, None, False, "the stored file is missing")
    ),
    "custody_verified": lambda: build_custody_card(
        custody(AnchoredReport("case-1", 3, anchored_sequence=2, anchored_at=NOW))
    ),
    "custody_story": lambda: build_custody_card(custody_story()),
    "custody_views": lambda: build_custody_views_card(custody_story()),
    "custody_broken": lambda: build_custody_card(
        custody(
            AnchoredReport(
                "case-1",
                3,
                (
                    Finding(
                        FindingKind.TRUNCATED,
                        3,
                        "the chain was truncated after entry 3: checkpoint 5 shows it had "
                        "5 entries",
                    ),
                    Finding(FindingKind.REWRITTEN, 2, "entry 2 was rewritten"),
                ),
            )
        )
    ),
    "approval_pending": lambda: build_approval_card(
        share(ShareStatus.PENDING), REFERENCE, [DOOR, STATEMENT], approvers=APPROVERS
    ),
    "approval_pending_without_buttons": lambda: build_approval_card(
        share(ShareStatus.PENDING),
        REFERENCE,
        [DOOR, STATEMENT],
        approvers=APPROVERS,
        with_buttons=False,
        notice="Checking 2 exhibits before the link is sent.",
    ),
    "approval_approved": lambda: build_approval_card(
        share(ShareStatus.APPROVED), REFERENCE, [DOOR, STATEMENT], approvers=APPROVERS
    ),
    "approval_rejected": lambda: build_approval_card(
        share(ShareStatus.REJECTED, decision_reason="not relevant"), REFERENCE, [DOOR]
    ),
    "approval_revoked": lambda: build_approval_card(
        share(ShareStatus.REVOKED, revocation_reason="sent to the wrong lawyer"), REFERENCE, [DOOR]
    ),
    "approval_pending_flagged": lambda: build_approval_card(
        share(ShareStatus.PENDING),
        REFERENCE,
        [DOOR, STATEMENT],
        reviews={DOOR.id: [REVIEWED, FLAGGED], STATEMENT.id: [REVIEWED]},
        approvers=APPROVERS,
        notice='Refused: JS/1 is flagged: tick "I have read the flags" to approve.',
    ),
    "share_rejected_for_requester": lambda: build_rejection_card(
        share(ShareStatus.REJECTED, decision_reason="faces not redacted on JS/1"),
        REFERENCE,
        [DOOR, STATEMENT],
    ),
    "approval_expired": lambda: build_approval_card(share(ShareStatus.EXPIRED), REFERENCE, [DOOR]),
    "link": lambda: build_link_card(share(ShareStatus.APPROVED), REFERENCE, SHARE_URL),
    "link_mailed": lambda: build_link_card(
        share(ShareStatus.APPROVED), REFERENCE, SHARE_URL, mailed_from="evidence@met.example"
    ),
    "link_mail_failed": lambda: build_link_card(
        share(ShareStatus.APPROVED),
        REFERENCE,
        SHARE_URL,
        mailed_from="evidence@met.example",
        mail_problem="the mailbox refused the message",
    ),
    "link_reissued": lambda: build_link_card(
        share(ShareStatus.APPROVED), REFERENCE, SHARE_URL, reissued=True
    ),
    "share_list": lambda: build_share_list_card(
        REFERENCE,
        [share(status, id=f"S-000000000{n}") for n, status in enumerate(ShareStatus)],
    ),
    "share_list_empty": lambda: build_share_list_card(REFERENCE, []),
    "integrity_alert_mismatch": lambda: build_integrity_alert_card(
        REFERENCE,
        IntegrityAlert(
            id="A-000000000001",
            pass_id="P-20261201-0A1B2C3D",
            case_id="case-1",
            exhibit_id="ex-1",
            exhibit_ref="JS/1",
            region="uksouth",
            expected_sha256="a" * 64,
            expected_size=2_400_000,
            found_sha256="e" * 64,
            found_size=7,
            problem="the hash differs",
            found_at=NOW,
            pending=frozenset(AlertTarget),
        ),
    ),
    "integrity_alert_missing": lambda: build_integrity_alert_card(
        REFERENCE,
        IntegrityAlert(
            id="A-000000000002",
            pass_id="P-20261201-0A1B2C3D",
            case_id="case-1",
            exhibit_id="ex-2",
            exhibit_ref="JS/2",
            region="uksouth",
            expected_sha256="b" * 64,
            expected_size=60_000,
            found_sha256=None,
            found_size=None,
            problem="the stored file is missing",
            found_at=NOW,
            pending=frozenset({AlertTarget.SECURITY_CHANNEL}),
        ),
    ),
    "share_form": lambda: build_share_form(
        "JS/1, JS/2", ["cps", "court", "defence"], (1, 14, 30), form_id=FORM_ID
    ),
    "share_form_refilled": lambda: build_share_form(
        "JS/1",
        ["cps", "court", "defence"],
        (1, 14, 30),
        form_id=FORM_ID,
        case_reference="MET-26-0002",
        filled={
            "exhibits": "JS/1",
            "recipient": "someone@gmail.com",
            "organisation": "court",
            "days": "10",
            "reason": "hearing",
        },
        notice="Recipient: gmail.com is not on the list of organisations.",
    ),
    "whoami_local": lambda: build_whoami_card(RAVI.officer(), "local"),
    "whoami_graph": lambda: build_whoami_card(JANE.officer(), "graph"),
}


def rendered(card: AdaptiveCard) -> str:
    """The card as Teams receives it, in a stable, reviewable layout."""
    return json.dumps(card_payload(card), indent=2, ensure_ascii=False) + "\n"


@pytest.mark.parametrize("name", list(CARDS))
def test_card_matches_its_golden_file(name: str) -> None:
    golden = GOLDEN / f"{name}.json"
    actual = rendered(CARDS[name]())
    if UPDATE:
        golden.write_text(actual, encoding="utf-8")
    assert golden.exists(), f"no {golden.name}: run with EXHIBIT_UPDATE_GOLDEN=1, review it"
    assert actual == golden.read_text(encoding="utf-8"), (
        f"{name} changed: review, then regenerate with EXHIBIT_UPDATE_GOLDEN=1"
    )


def test_every_golden_file_has_a_card() -> None:
    """A card removed or renamed takes its golden file with it."""
    kept = {"help_card", "help_command", "help_group"}  # checked by tests/test_conversation.py
    assert {p.stem for p in GOLDEN.glob("*.json")} - kept == set(CARDS)


@pytest.mark.parametrize(
    ("received", "total", "shown"),
    [
        (12 * MIB, 48 * MIB, "12.0 of 48.0 MiB (25%)"),
        (512 * 1024, 48 * MIB, "512.0 KiB of 48.0 MiB (1%)"),
        (48 * MIB - 1, 48 * MIB, "48.0 of 48.0 MiB (99%)"),
        (12 * MIB, None, "12.0 MiB"),
        (12 * MIB, 0, "12.0 MiB"),
        (60 * MIB, 48 * MIB, "60.0 MiB"),  # the declared size was wrong: not "125%"
    ],
)
def test_intake_progress_shows_the_total_and_a_percentage_when_known(
    received: int, total: int | None, shown: str
) -> None:
    assert progress_text(received, total) == shown
