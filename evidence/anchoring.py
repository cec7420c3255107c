"""Custody anchored outside the database: taking signed checkpoints, and checking chains by them.

After every decision (and at least every few minutes for a chain that grew) the case chain's
head is signed and written create-only to the checkpoint store in the case's region
(`evidence.checkpoints`). Verification then checks the chain in the database against every
checkpoint whose signature is valid: someone who can rewrite every row — entries, head row and
the index of checkpoints taken — still cannot make a shortened or rewritten chain agree with
checkpoints already signed. What is wrong is named in plain words (`Finding`).

The database keeps an index of checkpoints taken (`noted_checkpoints`): it says which chains
grew since their last checkpoint, and which checkpoints must exist in the store. It is never
trusted for verification: a checkpoint in the index but not in the store is itself reported.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from evidence.checkpoints import Checkpoint, CheckpointSigner, CheckpointStore, SignedCheckpoint
from evidence.custody import GENESIS, ChainReport, CustodyEntry, verify_chain
from evidence.errors import StoreUnavailable
from evidence.model import Case
from evidence.records import Records, RecordsUnit, inside_unit, read_chain, run_unit

logger = logging.getLogger(__name__)

CHAINS_PER_ROUND = 500

Verifier = Callable[[SignedCheckpoint], bool]


class FindingKind:
    """What a finding is about (stable words for reports and tests)."""

    ENTRY = "entry"  # an entry's own hash, link or sequence does not verify
    TRUNCATED = "truncated"  # entries signed in a checkpoint are gone from the end
    REWRITTEN = "rewritten"  # entries no longer hash to what a checkpoint signed
    CHECKPOINT_INVALID = "checkpoint invalid"  # bad signature, unknown key, unreadable
    CHECKPOINT_MISSING = "checkpoint missing"  # noted as written, absent from the store
    HEAD_MISSING = "head missing"  # the head row is gone (now or once: recovered)
    HEAD_MISMATCH = "head mismatch"  # the head row names another last entry


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing wrong with a chain: its kind, the entry or checkpoint it is about, in words."""

    kind: str
    sequence: int | None
    words: str


@dataclass(frozen=True, slots=True)
class Anchors:
    """What a chain is checked against: its stored checkpoints and the keys that may sign them.

    `checkpoints` None: the store could not be read now. `noted`: the sequences the database's
    index says were written (each must be in the store).
    """

    checkpoints: Sequence[SignedCheckpoint] | None
    keys: Mapping[str, Verifier]
    noted: Sequence[int] = ()


@dataclass(frozen=True, slots=True)
class AnchoredReport:
    """A case chain checked entry by entry and against its signed checkpoints."""

    chain: str
    entries: int
    findings: tuple[Finding, ...] = ()
    anchored_sequence: int | None = None  # the latest valid checkpoint's sequence
    anchored_at: datetime | None = None  # when it was taken
    checkpoints_read: bool = True

    @property
    def ok(self) -> bool:
        """Whether nothing is wrong with the chain (as far as could be checked)."""
        return not self.findings

    @property
    def verified(self) -> bool:
        """Whether nothing is wrong and the checkpoints could be read to say so."""
        return self.ok and self.checkpoints_read

    def summary(self) -> str:
        """The first finding (or that the chain verifies), in words."""
        if self.findings:
            return self.findings[0].words
        if not self.checkpoints_read:
            return "the chain could not be checked against its checkpoints just now"
        return "the chain of custody verifies"


def verify_anchored(
    chain: str,
    entries: Sequence[CustodyEntry],
    head: tuple[int, str] | None,
    anchors: Anchors,
) -> AnchoredReport:
    """Check `entries` (the whole chain, in order), the head row and every checkpoint."""
    findings: list[Finding] = []
    walked = verify_chain(chain, entries)
    if walked.first_bad is not None:
        findings.append(
            Finding(FindingKind.ENTRY, walked.first_bad, _entry_words(walked.first_bad, walked))
        )
    last = (entries[-1].sequence, entries[-1].hash) if entries else (0, "")
    if entries and head is None:
        findings.append(
            Finding(
                FindingKind.HEAD_MISSING,
                None,
                "the chain's head row is missing from the database (deleted or never written)",
            )
        )
    elif head is not None and head != last:
        findings.append(
            Finding(
                FindingKind.HEAD_MISMATCH,
                head[0],
                f"the head row names entry {head[0]} as the last, but the last entry is {last[0]}",
            )
        )
    for entry in entries:
        if entry.action == "custody.head_recovered":
            recovered = entry.details.get("last_sequence")
            findings.append(
                Finding(
                    FindingKind.HEAD_MISSING,
                    entry.sequence,
                    f"the chain's head row went missing and was rebuilt from entry {recovered} "
                    f"(recorded as entry {entry.sequence})",
                )
            )
    if anchors.checkpoints is None:
        return AnchoredReport(chain, len(entries), tuple(findings), checkpoints_read=False)
    valid, invalid, stored_sequences = _valid_checkpoints(chain, anchors)
    findings += invalid
    for sequence in sorted(set(anchors.noted) - stored_sequences):
        findings.append(
            Finding(
                FindingKind.CHECKPOINT_MISSING,
                sequence,
                f"checkpoint {sequence} is missing from the checkpoint store (the database says "
                "it was written)",
            )
        )
    findings += _against_checkpoints(entries, valid, last[0])
    latest = valid[-1] if valid else None
    return AnchoredReport(
        chain,
        len(entries),
        tuple(findings),
        anchored_sequence=latest.sequence if latest else None,
        anchored_at=latest.at if latest else None,
    )


def _entry_words(sequence: int, walked: ChainReport) -> str:
    problem = walked.problem or "does not verify"
    if problem == "entry was altered":
        return f"entry {sequence} was altered: its content no longer matches its hash"
    if problem == "previous hash does not match":
        return f"entry {sequence} does not follow entry {sequence - 1}: the chain was cut there"
    return f"entry {sequence}: {problem}"


def _valid_checkpoints(
    chain: str, anchors: Anchors
) -> tuple[list[Checkpoint], list[Finding], set[int]]:
    """The checkpoints whose signature is good, findings for the others, and every sequence
    the store holds a checkpoint for (good or not)."""
    valid: list[Checkpoint] = []
    findings: list[Finding] = []
    stored: set[int] = set()
    for position, signed in enumerate(anchors.checkpoints or (), start=1):
        try:
            checkpoint = signed.checkpoint
        except ValueError:
            findings.append(
                Finding(
                    FindingKind.CHECKPOINT_INVALID,
                    None,
                    f"stored checkpoint number {position} of this chain cannot be read",
                )
            )
            continue
        sequence = checkpoint.sequence
        stored.add(sequence)
        verifier = anchors.keys.get(checkpoint.key_id)
        if verifier is None:
            words = f"checkpoint {sequence} is signed by an unknown key"
        elif not verifier(signed):
            words = f"checkpoint {sequence} signature is invalid: it was not signed as it reads"
        elif checkpoint.chain != chain:
            words = f"checkpoint {sequence} belongs to another case"
        else:
            valid.append(checkpoint)
            continue
        findings.append(Finding(FindingKind.CHECKPOINT_INVALID, sequence, words))
    valid.sort(key=lambda checkpoint: checkpoint.sequence)
    return valid, findings, stored


def _against_checkpoints(
    entries: Sequence[CustodyEntry], valid: Sequence[Checkpoint], last: int
) -> list[Finding]:
    """Truncation (bounded by the latest checkpoint) and the first rewritten stretch."""
    findings: list[Finding] = []
    by_sequence = {entry.sequence: entry for entry in entries}
    if valid and valid[-1].sequence > last:
        latest = valid[-1]
        findings.append(
            Finding(
                FindingKind.TRUNCATED,
                last,
                f"the chain was truncated after entry {last}: checkpoint {latest.sequence} "
                f"shows it had {latest.sequence} entries",
            )
        )
    matched = 0
    for checkpoint in valid:
        entry = by_sequence.get(checkpoint.sequence)
        if entry is None:
            continue  # gone: truncation or a missing entry, reported above
        if entry.hash == checkpoint.entry_hash:
            matched = checkpoint.sequence
            continue
        first = matched + 1
        words = (
            f"entry {checkpoint.sequence} was rewritten"
            if first == checkpoint.sequence
            else f"entries between {first} and {checkpoint.sequence} were rewritten"
        )
        findings.append(
            Finding(
                FindingKind.REWRITTEN,
                checkpoint.sequence,
                f"{words}: they no longer match checkpoint {checkpoint.sequence}",
            )
        )
        break  # later checkpoints differ because of this one
    return findings


@dataclass(frozen=True, slots=True)
class ChainCheck:
    """A case chain as read, and its anchored report."""

    entries: Sequence[CustodyEntry]
    report: AnchoredReport


@dataclass(frozen=True, slots=True)
class Anchoring:
    """Takes checkpoints of case chains and checks chains against them."""

    records: Records
    signer: CheckpointSigner
    store: CheckpointStore
    now: Callable[[], datetime]
    trusted: Mapping[str, Verifier] = field(default_factory=dict)

    @property
    def keys(self) -> Mapping[str, Verifier]:
        """The keys whose checkpoints are accepted: the signer's, and any trusted before."""
        return {**self.trusted, self.signer.key_id: self.signer.verify}

    async def after_decision(self, case: Case) -> Checkpoint | None:
        """Checkpoint the case's chain now that a decision committed; never raises.

        A store or database outage is logged (the case id only) and left to `catch_up`.
        """
        return await self.checkpoint(case.id, case.region)

    async def checkpoint(self, chain: str, region: str) -> Checkpoint | None:
        """Sign the chain's head and store it, unless it is checkpointed already; never raises."""
        if inside_unit():
            raise RuntimeError("a checkpoint is taken after the unit commits, not inside it")
        try:
            return await self._checkpoint(chain, region)
        except Exception as err:  # the user's action stands; the periodic round catches up
            logger.warning("Checkpoint of chain %s not taken: %s", chain, type(err).__name__)
            return None

    async def _checkpoint(self, chain: str, region: str) -> Checkpoint | None:
        async def read(
            unit: RecordsUnit,
        ) -> tuple[tuple[int, str] | None, tuple[int, str], Sequence[CustodyEntry]]:
            noted = await unit.last_noted_checkpoint(chain)
            since = noted or (0, "")
            entries, head = await read_chain(unit, chain, since[0])
            return head, since, entries

        head, since, entries = await run_unit(self.records, read)
        if head is None or head[0] <= since[0]:
            return None
        walked = verify_chain(chain, entries, head, after=since if since[0] else (0, GENESIS))
        if not walked.ok:
            # Never sign what does not follow the last checkpoint: `custody` reports it.
            logger.error("Chain %s does not verify at entry %s: not checkpointed",
                         chain, walked.first_bad)  # fmt: skip
            return None
        checkpoint = Checkpoint(chain, head[0], head[1], self.now(), self.signer.key_id)
        payload = checkpoint.payload()
        signed = SignedCheckpoint(payload, await self.signer.sign(payload))
        if not await self.store.put(region, signed):
            logger.info("Chain %s already had a checkpoint at %d", chain, head[0])

        async def note(unit: RecordsUnit) -> None:
            await unit.note_checkpoint(chain, checkpoint.sequence, checkpoint.entry_hash,
                                       checkpoint.at)  # fmt: skip

        await run_unit(self.records, note)
        return checkpoint

    async def catch_up(self, limit: int = CHAINS_PER_ROUND) -> int:
        """Checkpoint every case chain that grew since its last checkpoint; how many were taken."""
        grown = await run_unit(self.records, lambda unit: unit.chains_grown(limit))
        taken = 0
        for chain, region in grown:
            if await self.checkpoint(chain, region) is not None:
                taken += 1
        return taken

    async def anchors(self, case: Case) -> Anchors:
        """The case's checkpoints (None if the store is down) and the index of those written.

        Read before the chain: a checkpoint taken meanwhile then only finds more entries.
        """
        noted = await run_unit(self.records, lambda unit: unit.noted_checkpoints(case.id))
        try:
            checkpoints: Sequence[SignedCheckpoint] | None = await self.store.checkpoints(
                case.region, case.id
            )
        except StoreUnavailable as err:
            logger.warning("Checkpoints of chain %s unreadable: %s", case.id, type(err).__name__)
            checkpoints = None
        return Anchors(checkpoints, self.keys, tuple(noted))

    async def check(self, case: Case) -> ChainCheck:
        """Read the case chain and check it against its checkpoints."""
        anchors = await self.anchors(case)

        async def read(unit: RecordsUnit) -> ChainCheck:
            entries, head = await read_chain(unit, case.id)
            return ChainCheck(entries, verify_anchored(case.id, entries, head, anchors))

        return await run_unit(self.records, read)
