"""The continuity bundle of a case, as data: who may have one, what goes in it, what it states.

`custody export <case-ref> [<exhibit-ref>...] [with files]` gives a court or a defence expert
everything needed to check a case's custody without Exhibit: the whole chain (a verifier needs
every entry; named exhibits only narrow the statement), the signed checkpoints and the public
key, the exhibit files when asked, a plain-English continuity statement, a standard-library
verifier and a manifest. This module decides what each of those says; `documents/` writes the
ZIP and the PDF. Handing the bundle over is a disclosure: `custody.exported` records who, to
whom, why, the bundle's SHA-256, which exhibits and whether files went with it.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from evidence.cases import MembersOf, check_visible, find_case
from evidence.checkpoints import SignedCheckpoint, file_stem
from evidence.custody import (
    Action,
    Actor,
    ChainReport,
    CustodyEntry,
    CustodyEvent,
    canonical,
    verify_chain,
)
from evidence.errors import InvalidInput
from evidence.exhibits import ExhibitNotFound
from evidence.model import Case, Exhibit, ExhibitRef, SourceKind
from evidence.officers import Officer
from evidence.policy import Decision, is_on_case_team
from evidence.records import RecordsUnit, read_chain

UK = ZoneInfo("Europe/London")
REASON_MAX = 500
MAX_EXHIBITS = 50

CUSTODY_JSONL = "custody.jsonl"
CUSTODY_CSV = "custody.csv"
PUBLIC_KEY = "public-key.pem"
STATEMENT = "continuity-statement.pdf"
VERIFIER = "verify.py"
README = "README.txt"
MANIFEST = "manifest.sha256"
CSV_COLUMNS = (
    "sequence",
    "at_utc",
    "at_uk",
    "actor_name",
    "actor_id",
    "action",
    "exhibit",
    "details",
    "previous_hash",
    "hash",
    "canonical",
)

_UNSAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True, slots=True)
class ExportRequest:
    """`custody export <case-ref> [<exhibit-ref>...] [with files] [reason <text...>]`, as read."""

    case_reference: str
    exhibit_refs: tuple[ExhibitRef, ...] = ()
    with_files: bool = False
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ExportScope:
    """What one export covers, read in one unit: the case, its chain, the exhibits in focus."""

    case: Case
    officer: Officer
    exhibits: tuple[Exhibit, ...]  # in focus: the ones named, else every exhibit of the case
    all_exhibits: tuple[Exhibit, ...]
    entries: tuple[CustodyEntry, ...]  # the whole chain, in sequence order
    head: tuple[int, str] | None
    with_files: bool
    reason: str | None
    focused: bool  # exhibits were named

    @property
    def report(self) -> ChainReport:
        """The chain walked from its first entry to the recorded head."""
        return verify_chain(self.case.id, self.entries, head=self.head)


@dataclass(frozen=True, slots=True)
class ExportLookup:
    """The scope of an export, or the refusal (recorded; the caller commits, then raises)."""

    case: Case
    scope: ExportScope | None
    decision: Decision


def read_reason(text: str | None) -> str | None:
    """A reason as typed, trimmed; `InvalidInput` when it is unprintable or too long."""
    if text is None or not text.strip():
        return None
    reason = " ".join(text.split())
    if len(reason) > REASON_MAX:
        raise InvalidInput("reason", f"keep it within {REASON_MAX} characters")
    if any(not ch.isprintable() for ch in reason):
        raise InvalidInput("reason", "it contains control characters")
    return reason


async def open_export(
    unit: RecordsUnit,
    officer: Officer,
    request: ExportRequest,
    members_of: MembersOf,
    *,
    now: datetime,
) -> ExportLookup:
    """Check the officer may export the case, and read everything the bundle needs.

    Whoever may see the case may export it (the case team, auditors, admins); someone who is
    not on the case team must say why (DPA 2018 s.62: a disclosure log holds its justification).
    """
    case = await find_case(unit, request.case_reference, None)
    decision = await check_visible(
        unit, officer, case, members_of, now=now, attempt={"command": "custody export"}
    )
    if not decision.allowed:
        return ExportLookup(case, None, decision)
    if request.reason is None and not is_on_case_team(officer, case, await members_of(case)):
        raise InvalidInput(
            "reason",
            f"you are not on the team of case {case.reference}: say why you need its bundle, "
            f"e.g. custody export {case.reference} reason ICO subject access request",
        )
    everything = tuple(await unit.exhibits_of(case.id))
    chosen: list[Exhibit] = []
    for ref in dict.fromkeys(request.exhibit_refs):
        exhibit = await unit.exhibit_by_ref(case.id, ref.initials, ref.number)
        if exhibit is None:
            raise ExhibitNotFound(case.reference, str(ref))
        chosen.append(exhibit)
    entries, head = await read_chain(unit, case.id)
    scope = ExportScope(
        case=case,
        officer=officer,
        exhibits=tuple(chosen) if chosen else everything,
        all_exhibits=everything,
        entries=tuple(entries),
        head=head,
        with_files=request.with_files,
        reason=request.reason,
        focused=bool(chosen),
    )
    return ExportLookup(case, scope, decision)


async def reopen_export(
    unit: RecordsUnit,
    officer: Officer,
    case_id: str,
    exhibit_ids: Sequence[str],
    *,
    with_files: bool,
    reason: str | None,
) -> ExportScope | None:
    """The scope of an export checked and recorded earlier (`open_export`), read again by id
    when the bundle is built (in a background job); None if the case or an exhibit is gone."""
    case = await unit.case_by_id(case_id)
    if case is None:
        return None
    everything = tuple(await unit.exhibits_of(case.id))
    by_id = {exhibit.id: exhibit for exhibit in everything}
    if any(exhibit_id not in by_id for exhibit_id in exhibit_ids):
        return None
    chosen = tuple(by_id[exhibit_id] for exhibit_id in exhibit_ids)
    return ExportScope(
        case=case,
        officer=officer,
        exhibits=chosen or everything,
        all_exhibits=everything,
        entries=tuple(await unit.custody(case.id)),
        head=await unit.custody_head(case.id),
        with_files=with_files,
        reason=reason,
        focused=bool(chosen),
    )


@dataclass(frozen=True, slots=True)
class Disclosure:
    """What one bundle discloses, kept with the bundle until it is handed over."""

    case_id: str
    reason: str | None
    exhibits: tuple[str, ...]
    focused: bool
    with_files: bool
    chain_entries: int
    bundle_sha256: str
    bundle_size: int

    @classmethod
    def of(cls, scope: ExportScope, *, bundle_sha256: str, bundle_size: int) -> Disclosure:
        """The disclosure a bundle built from `scope` makes."""
        return cls(
            case_id=scope.case.id,
            reason=scope.reason,
            exhibits=tuple(str(exhibit.ref) for exhibit in scope.exhibits),
            focused=scope.focused,
            with_files=scope.with_files,
            chain_entries=len(scope.entries),
            bundle_sha256=bundle_sha256,
            bundle_size=bundle_size,
        )

    def encode(self) -> str:
        """As compact JSON (kept beside the stored bundle)."""
        return json.dumps(
            {name: getattr(self, name) for name in Disclosure.__slots__},
            separators=(",", ":"),
            ensure_ascii=True,
        )

    @classmethod
    def decode(cls, text: str) -> Disclosure:
        """From `encode`'s JSON; `ValueError` if it is not one."""
        try:
            document = json.loads(text)
            return cls(**{**document, "exhibits": tuple(document["exhibits"])})
        except (TypeError, KeyError, json.JSONDecodeError) as error:
            raise ValueError("not a disclosure") from error


async def record_export(
    unit: RecordsUnit,
    actor: Officer | Actor,
    disclosure: Disclosure,
    *,
    delivered_to: str,
    via: str,
    now: datetime,
) -> CustodyEntry:
    """`custody.exported`: the disclosure, with who, to whom, why and exactly what left."""
    return await unit.append_custody(
        CustodyEvent.by(
            actor,
            Action.CUSTODY_EXPORTED,
            disclosure.case_id,
            now,
            {
                "to": delivered_to,
                "via": via,
                "reason": disclosure.reason,
                "bundle_sha256": disclosure.bundle_sha256,
                "bundle_size": disclosure.bundle_size,
                "exhibits": list(disclosure.exhibits),
                "focused": disclosure.focused,
                "with_files": disclosure.with_files,
                "chain_entries": disclosure.chain_entries,
            },
        )
    )


def about(entry: CustodyEntry, exhibit: Exhibit) -> bool:
    """Whether a chain entry concerns the exhibit (its intake job carries the exhibit's id)."""
    return entry.exhibit_id == exhibit.id or (
        entry.exhibit_id is None and entry.details.get("job") == exhibit.id
    )


def uk_time(moment: datetime) -> str:
    """`1 December 2026, 10:00:00 GMT`: UK local time, with the zone (GMT or BST) named."""
    local = moment.astimezone(UK)
    return f"{local.day} {local.strftime('%B %Y, %H:%M:%S %Z')}"


def utc_text(moment: datetime) -> str:
    """The moment as the chain's canonical encoding writes it."""
    return moment.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def bundle_file_name(exhibit: Exhibit) -> str:
    """Where an exhibit's bytes go in the bundle: `files/JS-1_photo.jpg`."""
    ref = str(exhibit.ref).replace("/", "-")
    name = _UNSAFE_NAME.sub("_", exhibit.stored_name).strip("._") or "file"
    return f"files/{ref}_{name[:120]}"


def bundle_name(case: Case, now: datetime) -> str:
    """The bundle's file name: case reference and UTC time."""
    return f"{case.reference}-continuity-{now.astimezone(ZoneInfo('UTC')):%Y%m%dT%H%M%SZ}.zip"


# --- the chain, as files -----------------------------------------------------------------------


def custody_jsonl(entries: Sequence[CustodyEntry]) -> bytes:
    """One line per entry: its canonical encoding (the hashed bytes, as text) and its hash."""
    lines = [
        json.dumps(
            {"canonical": canonical(entry).decode("utf-8"), "hash": entry.hash},
            ensure_ascii=False,
            separators=(",", ":"),
        )
        for entry in entries
    ]
    return ("\n".join(lines) + "\n").encode("utf-8") if lines else b""


def custody_csv(entries: Sequence[CustodyEntry], refs: Mapping[str, str]) -> bytes:
    """The same entries as a spreadsheet, with UK local times and exhibit references."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS)
    for entry in entries:
        exhibit_id = entry.exhibit_id or str(entry.details.get("job") or "")
        writer.writerow(
            (
                entry.sequence,
                utc_text(entry.at),
                uk_time(entry.at),
                _spreadsheet_safe(entry.actor_name),
                entry.actor_id,
                entry.action,
                refs.get(exhibit_id, ""),
                _spreadsheet_safe(json.dumps(dict(entry.details), ensure_ascii=False)),
                entry.previous_hash,
                entry.hash,
                _spreadsheet_safe(canonical(entry).decode("utf-8")),
            )
        )
    return out.getvalue().encode("utf-8")


def _spreadsheet_safe(text: str) -> str:
    """Text a spreadsheet shows rather than runs (no leading =, +, -, @)."""
    return "'" + text if text[:1] in {"=", "+", "-", "@", "\t", "\r"} else text


# --- checkpoints -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CheckpointCheck:
    """One stored checkpoint held against its signature and the chain."""

    stem: str
    sequence: int | None
    at: datetime | None
    problem: str | None = None

    @property
    def ok(self) -> bool:
        """Signature valid and it agrees with the chain."""
        return self.problem is None


def check_checkpoints(
    chain: str,
    entries: Sequence[CustodyEntry],
    stored: Sequence[SignedCheckpoint],
    verify: Callable[[SignedCheckpoint], bool],
) -> list[CheckpointCheck]:
    """Each checkpoint: is the signature the key's, and does the chain still hold its head?"""
    by_sequence = {entry.sequence: entry for entry in entries}
    checks = []
    for index, signed in enumerate(stored, start=1):
        try:
            checkpoint = signed.checkpoint
        except ValueError:
            checks.append(CheckpointCheck(f"unreadable-{index}", None, None, "not a checkpoint"))
            continue
        stem = file_stem(checkpoint.sequence)
        problem = None
        entry = by_sequence.get(checkpoint.sequence)
        if not verify(signed):
            problem = "the signature does not verify"
        elif checkpoint.chain != chain:
            problem = "it belongs to another chain"
        elif entry is None:
            problem = f"the chain has no entry {checkpoint.sequence} (truncated)"
        elif entry.hash != checkpoint.entry_hash:
            problem = f"entry {checkpoint.sequence} differs from the one signed (rewritten)"
        checks.append(CheckpointCheck(stem, checkpoint.sequence, checkpoint.at, problem))
    return checks


# --- the statement -----------------------------------------------------------------------------

_EVENTS: dict[str, str] = {
    Action.CASE_OPENED: "opened the case",
    Action.INTAKE_STARTED: "sent the file to Exhibit",
    Action.INTAKE_COMPLETED: "the file was received, hashed and stored",
    Action.INTAKE_FAILED: "the intake failed",
    Action.EXHIBIT_VIEWED: "viewed the exhibit",
    Action.EXHIBIT_VERIFIED: "had the stored file re-hashed",
    Action.EXHIBIT_REVIEWED: "marked the exhibit reviewed",
    Action.EXHIBIT_FLAGGED: "flagged the exhibit",
    Action.CUSTODY_VIEWED: "read its chain of custody",
    Action.SHARE_REQUESTED: "asked to share it externally",
    Action.SHARE_APPROVED: "approved an external share",
    Action.SHARE_REJECTED: "rejected an external share",
    Action.SHARE_REVOKED: "revoked an external share",
    Action.SHARE_EXPIRED: "an external share expired",
    Action.EXHIBIT_DOWNLOADED: "the recipient of a share downloaded it",
    Action.ACCESS_REFUSED: "was refused access",
    Action.CUSTODY_EXPORTED: "exported the continuity bundle",
}


@dataclass(frozen=True, slots=True)
class StatementEvent:
    """One custody event of an exhibit, as the statement lists it."""

    sequence: int
    when: str  # UK local time with zone
    person: str
    what: str


@dataclass(frozen=True, slots=True)
class ExhibitStatement:
    """What the statement says about one exhibit."""

    ref: str
    name: str
    file_type: str
    size: int
    sha256: str
    producer: str
    received_at: str
    received_from: str
    region: str
    findings: tuple[str, ...]  # verification results, plain English
    events: tuple[StatementEvent, ...]


@dataclass(frozen=True, slots=True)
class ContinuityStatement:
    """The continuity statement's content, in the order it is printed."""

    case_reference: str
    case_title: str
    region: str
    prepared_at: str
    prepared_by: str
    reason: str | None
    focus: str
    chain_findings: tuple[str, ...]
    chain_ok: bool
    key_id: str
    exhibits: tuple[ExhibitStatement, ...]


def continuity_statement(
    scope: ExportScope,
    checkpoints: Sequence[CheckpointCheck],
    *,
    key_id: str,
    now: datetime,
    copies: Mapping[str, str] | None = None,
) -> ContinuityStatement:
    """The statement: the chain's verification, then each exhibit in focus.

    `copies`: SHA-256 of each exhibit's copy written into the bundle, by exhibit id.
    """
    report = scope.report
    findings = [_chain_finding(scope, report)]
    valid = [check for check in checkpoints if check.ok]
    findings += [
        f"Checkpoint {check.stem} is not valid: {check.problem}."
        for check in checkpoints
        if not check.ok
    ]
    if valid:
        latest = max(valid, key=lambda check: check.sequence or 0)
        at = uk_time(latest.at) if latest.at else "an unknown time"
        findings.append(
            f"{len(valid)} signed checkpoint(s) agree with the chain; the latest covers entries "
            f"1 to {latest.sequence}, signed at {at}."
        )
    elif not checkpoints:
        findings.append("No signed checkpoint of this chain was found.")
    chain_ok = report.ok and all(check.ok for check in checkpoints)
    focus = (
        f"This statement covers exhibits {', '.join(str(e.ref) for e in scope.exhibits)}; "
        f"the bundle holds the whole chain of the case ({len(scope.entries)} entries)."
        if scope.focused
        else f"This statement covers every exhibit of the case ({len(scope.exhibits)}) and "
        f"the whole chain ({len(scope.entries)} entries)."
    )
    return ContinuityStatement(
        case_reference=scope.case.reference,
        case_title=scope.case.title,
        region=scope.case.region,
        prepared_at=uk_time(now),
        prepared_by=scope.officer.display_name,
        reason=scope.reason,
        focus=focus,
        chain_findings=tuple(findings),
        chain_ok=chain_ok,
        key_id=key_id,
        exhibits=tuple(
            _exhibit_statement(scope, exhibit, (copies or {}).get(exhibit.id))
            for exhibit in scope.exhibits
        ),
    )


def _chain_finding(scope: ExportScope, report: ChainReport) -> str:
    if report.ok:
        return (
            f"The chain of custody of case {scope.case.reference} verifies: all "
            f"{len(scope.entries)} entries hash correctly, each links to the one before it, and "
            "the last is the head the ledger recorded."
        )
    return (
        f"The chain of custody does NOT verify: entry {report.first_bad}: {report.problem}. "
        "Entries from there on cannot be relied upon without further enquiry."
    )


def _exhibit_statement(scope: ExportScope, exhibit: Exhibit, copy: str | None) -> ExhibitStatement:
    entries = [entry for entry in scope.entries if about(entry, exhibit)]
    intake = next((e for e in entries if e.action == Action.INTAKE_COMPLETED), None)
    findings = []
    if intake is None:
        findings.append("No intake entry for this exhibit was found in the chain.")
    else:
        recorded = str(intake.details.get("sha256"))
        findings.append(
            f"The chain's intake entry ({intake.sequence}) records SHA-256 {recorded}"
            + (
                "; the exhibit record agrees."
                if recorded == exhibit.sha256
                else f"; the exhibit record says {exhibit.sha256}, which DISAGREES."
            )
        )
    for entry in entries:
        if entry.action == Action.EXHIBIT_VERIFIED:
            verdict = "matched" if entry.details.get("matches") else "did NOT match"
            findings.append(
                f"{uk_time(entry.at)}: re-hashed at {entry.actor_name}'s request; "
                f"the stored file {verdict}."
            )
    if copy is not None:
        verdict = (
            "matches the intake hash"
            if copy == exhibit.sha256
            else "does NOT match the intake hash"
        )
        findings.append(f"The copy in this bundle has SHA-256 {copy}, which {verdict}.")
    events = tuple(
        StatementEvent(
            entry.sequence,
            uk_time(entry.at),
            entry.actor_name,
            _EVENTS.get(entry.action, entry.action),
        )
        for entry in entries
    )
    return ExhibitStatement(
        ref=str(exhibit.ref),
        name=exhibit.original_name,
        file_type=exhibit.detected_type,
        size=exhibit.size,
        sha256=exhibit.sha256,
        producer=exhibit.produced_by_name,
        received_at=uk_time(intake.at if intake else exhibit.created_at or scope.case.created_at),
        received_from=_source_text(exhibit),
        region=exhibit.region,
        findings=tuple(findings),
        events=events,
    )


def _source_text(exhibit: Exhibit) -> str:
    match exhibit.source:
        case SourceKind.TEAMS_FILE:
            where = "a file sent to Exhibit in a Microsoft Teams one-to-one chat"
        case SourceKind.BOT_ATTACHMENT:
            where = "an image pasted into a Microsoft Teams chat with Exhibit"
        case SourceKind.SHAREPOINT:
            where = "a file posted in Microsoft Teams, read from SharePoint"
    quick_xor = exhibit.source_details.get("quickXorHashMatches")
    if quick_xor is True:
        where += " (SharePoint's own QuickXorHash matched the bytes received)"
    elif quick_xor is False:
        where += " (SharePoint's own QuickXorHash did NOT match the bytes received)"
    return where


# --- the bundle's other text files -------------------------------------------------------------


def readme_text(case: Case, key_id: str, stems: Sequence[str], now: datetime) -> str:
    """README.txt: what is in the bundle and how to check it with standard tools."""
    first = stems[0] if stems else "000000000001"
    listing = "\n".join(f"  checkpoints/{stem}.json  and .sig" for stem in stems) or "  (none)"
    return f"""\
Continuity bundle of case {case.reference}, prepared {uk_time(now)}.

What is here
  {STATEMENT:<28} the continuity statement, in plain English
  {CUSTODY_JSONL:<28} every entry of the case's chain of custody: its canonical encoding
  {"":<28} (the exact bytes that were hashed) and its SHA-256
  {CUSTODY_CSV:<28} the same entries as a spreadsheet, with UK local times
  checkpoints/N.json, N.sig    each signed checkpoint: the signed bytes, and the signature (DER)
  {PUBLIC_KEY:<28} the public key that signs checkpoints (ECDSA P-256, SHA-256)
  files/                       the exhibit files, when they were asked for
  {VERIFIER:<28} a checker that needs only Python 3 (standard library)
  {MANIFEST:<28} SHA-256 of every other file

How to check it (Linux or macOS; on Windows use WSL or Git Bash)
  1. Every file is as exported:
       sha256sum -c {MANIFEST}
  2. The chain: every entry's hash, every link, every checkpoint against the chain, the manifest:
       python3 {VERIFIER}
     It names the first bad entry or file and exits with a non-zero status if anything fails.
  3. Each checkpoint's signature, with OpenSSL:
       openssl dgst -sha256 -verify {PUBLIC_KEY} -signature checkpoints/{first}.sig \\
         checkpoints/{first}.json
     which prints "Verified OK". Checkpoints in this bundle:
{listing}
  4. The key is the force's published checkpoint key: its fingerprint is
       openssl pkey -pubin -in {PUBLIC_KEY} -outform DER | sha256sum
     which must print {key_id}
     (the key_id inside every checkpoint, and the one the force publishes).

A checkpoint signs a chain's length and last hash at a moment: no entry up to that point can be
removed or changed without the checkpoint disagreeing with the chain.
"""


def manifest_text(digests: Sequence[tuple[str, str]]) -> bytes:
    """`sha256sum -c` input: one `<hex>  <name>` line per file."""
    return "".join(f"{digest}  {name}\n" for name, digest in digests).encode("utf-8")
