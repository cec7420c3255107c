"""The custody ledger's hashing and verification, with no I/O."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from evidence.custody import (
    GENESIS,
    Action,
    CustodyEntry,
    CustodyEvent,
    canonical,
    seal,
    verify_chain,
)
from evidence.officers import Officer
from tests.support.people import JANE

T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)


def _chain(length: int) -> list[CustodyEntry]:
    entries: list[CustodyEntry] = []
    previous = GENESIS
    for n in range(1, length + 1):
        event = CustodyEvent(
            chain="case-1",
            actor=JANE.actor(),
            action=Action.EXHIBIT_VIEWED,
            at=T0 + timedelta(minutes=n),
            case_id="case-1",
            exhibit_id=f"exhibit-{n}",
            details={"n": n, "note": "caf\u00e9", "flags": [True, None]},
        )
        entry = seal(event, n, previous)
        entries.append(entry)
        previous = entry.hash
    return entries


def test_an_intact_chain_verifies() -> None:
    entries = _chain(5)
    report = verify_chain("case-1", entries, head=(5, entries[-1].hash))
    assert report.ok
    assert report.entries == 5


def test_the_encoding_is_canonical() -> None:
    entry = _chain(1)[0]
    reordered = dataclasses.replace(entry, details=dict(reversed(list(entry.details.items()))))
    assert canonical(entry) == canonical(reordered)
    assert b'"at":"2026-11-25T09:01:00.000000Z"' in canonical(entry)
    other_zone = dataclasses.replace(entry, at=entry.at.astimezone(timezone(timedelta(hours=5))))
    assert canonical(entry) == canonical(other_zone)


@pytest.mark.parametrize(
    ("field", "value"),
    [("details", {"n": 99}), ("actor_name", "Someone Else"), ("action", "exhibit.deleted"),
     ("at", T0), ("exhibit_id", "exhibit-x")],
)  # fmt: skip
def test_an_altered_entry_is_named(field: str, value: Any) -> None:
    entries = _chain(5)
    entries[2] = dataclasses.replace(entries[2], **{field: value})
    report = verify_chain("case-1", entries)
    assert (report.ok, report.first_bad, report.problem) == (False, 3, "entry was altered")


def test_a_rehashed_forgery_breaks_the_next_link() -> None:
    entries = _chain(5)
    forged = dataclasses.replace(entries[1], details={"n": 2, "note": "forged"})
    entries[1] = seal(
        CustodyEvent(
            chain=forged.chain, actor=JANE.actor(), action=forged.action, at=forged.at,
            case_id=forged.case_id, exhibit_id=forged.exhibit_id, details=forged.details,
        ),
        2,
        forged.previous_hash,
    )  # fmt: skip
    report = verify_chain("case-1", entries)
    assert (report.first_bad, report.problem) == (3, "previous hash does not match")


def test_a_deleted_entry_is_named() -> None:
    entries = _chain(5)
    del entries[1]
    report = verify_chain("case-1", entries)
    assert (report.first_bad, report.problem) == (2, "entry 2 is missing")


def test_deleting_the_last_entries_is_caught_by_the_head() -> None:
    entries = _chain(5)
    head = (5, entries[-1].hash)
    report = verify_chain("case-1", entries[:3], head=head)
    assert (report.ok, report.first_bad) == (False, 4)


def test_an_entry_from_another_chain_is_named() -> None:
    entries = _chain(3)
    entries[1] = dataclasses.replace(entries[1], chain="case-2")
    assert verify_chain("case-1", entries).first_bad == 2


def test_an_event_by_an_officer_is_on_the_case_chain_named_as_the_directory_names_them() -> None:
    officer = Officer(JANE.object_id, JANE.name)
    made = CustodyEvent.by(
        officer, Action.EXHIBIT_VIEWED, "case-1", T0, {"n": 1}, exhibit_id="exhibit-1"
    )
    by_hand = CustodyEvent(
        chain="case-1",
        actor=JANE.actor(),
        action=Action.EXHIBIT_VIEWED,
        at=T0,
        case_id="case-1",
        exhibit_id="exhibit-1",
        details={"n": 1},
    )
    assert made == by_hand
    assert seal(made, 1, GENESIS) == seal(by_hand, 1, GENESIS)
