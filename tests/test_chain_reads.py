"""A chain read while another instance appends to it is whole: no false alarm, no lost checkpoint.

Several service instances and workers append to one case's chain all the time. On PostgreSQL a
unit sees, in each statement, what had committed before that statement, so an append landing
between the read of a chain's entries and the read of its head made the head look ahead of the
last entry — exactly what entries deleted from the end look like: `custody` reported "entries
after N are missing", and the checkpoint round logged an error and signed nothing. Found by
tests/test_many_instances.py. Here another unit appends at the worst moment, right after the
first read of the chain, on a real PostgreSQL (SQLite units read one snapshot throughout).
"""

from __future__ import annotations

import asyncio
import contextvars
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, cast

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from evidence.anchoring import Anchoring
from evidence.custody import Action, CustodyEntry, CustodyEvent, verify_chain
from evidence.model import Case
from evidence.records import RecordsUnit
from signing.local import LocalKeySigner
from storage.blobs import ClientPolicy, RegionAccount, RegionalBlobServices, blob_service
from storage.checkpoints import BlobCheckpointStore
from storage.records import SqlRecords
from tests.conftest import Azurite
from tests.support.people import JANE

pytest_plugins = ["tests.support.postgres", "tests.support.record_backends"]

pytestmark = pytest.mark.parametrize(
    "backend", [pytest.param("postgresql", marks=pytest.mark.postgres)]
)

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
READS = {"custody", "custody_after", "custody_head"}


class AppendsBetweenReads:
    """Records whose units let another unit append to the chain once, right after their first
    read of it (entries or head), and commit before they read on."""

    def __init__(self, records: SqlRecords, case: Case) -> None:
        self.records = records
        self.case = case
        self.appended = 0

    @asynccontextmanager
    async def unit(self) -> AsyncIterator[RecordsUnit]:
        async with self.records.unit() as unit:
            yield cast(RecordsUnit, _Meddling(unit, self))

    async def append_once(self) -> None:
        if self.appended:
            return
        self.appended += 1

        async def append() -> None:
            async with self.records.unit() as other:
                await other.append_custody(view(self.case))

        # Outside this task's unit, as another instance's turn would be.
        await asyncio.create_task(append(), context=contextvars.Context())


class _Meddling:
    def __init__(self, unit: RecordsUnit, outer: AppendsBetweenReads) -> None:
        self._unit = unit
        self._outer = outer

    def __getattr__(self, name: str) -> Any:
        found = getattr(self._unit, name)
        if name not in READS:
            return found

        async def read_then_append(*args: Any) -> Any:
            result = await found(*args)
            await self._outer.append_once()
            return result

        return read_then_append


def view(case: Case) -> CustodyEvent:
    """An entry someone else's turn adds to the case chain."""
    return CustodyEvent.by(JANE.officer(), Action.CASE_VIEWED, case.id, NOW)


@pytest.fixture
async def blobs(azurite: Azurite) -> AsyncIterator[RegionalBlobServices]:
    services = RegionalBlobServices(
        {
            "uksouth": blob_service(
                RegionAccount("uksouth", azurite.connection_string("uksouth")),
                policy=ClientPolicy(),
            )
        }
    )
    yield services
    await services.aclose()


@pytest.fixture
async def case(records: SqlRecords) -> Case:
    """A case whose chain has three entries."""
    case = Case(str(uuid.uuid4()), "MET-26-0777", "Robbery", "uksouth", JANE.object_id, NOW)
    async with records.unit() as unit:
        await unit.add_case(case)
        for _ in range(3):
            await unit.append_custody(view(case))
    return case


def anchoring(records: Any, blobs: RegionalBlobServices) -> Anchoring:
    signer = LocalKeySigner(ec.generate_private_key(ec.SECP256R1()))
    return Anchoring(records, signer, BlobCheckpointStore(blobs), lambda: NOW)


async def chain_of(records: SqlRecords, case: Case) -> tuple[list[CustodyEntry], Any]:
    async with records.unit() as unit:
        return list(await unit.custody(case.id)), await unit.custody_head(case.id)


@pytest.fixture
def no_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    yield
    errors = [r.getMessage() for r in caplog.records if r.levelname == "ERROR"]
    assert not errors


async def test_a_chain_checked_while_another_instance_appends_verifies(
    records: SqlRecords, case: Case, blobs: RegionalBlobServices, no_errors: None
) -> None:
    meddling = AppendsBetweenReads(records, case)
    checked = await anchoring(meddling, blobs).check(case)
    assert meddling.appended == 1
    assert checked.report.ok, checked.report.findings
    # It read the chain as it was at one moment, and that moment verifies on its own.
    entries, head = await chain_of(records, case)
    assert len(entries) == 4
    assert verify_chain(case.id, entries, head).ok
    assert [e.sequence for e in checked.entries] in ([1, 2, 3], [1, 2, 3, 4])


async def test_a_checkpoint_taken_while_another_instance_appends_is_taken(
    records: SqlRecords, case: Case, blobs: RegionalBlobServices, no_errors: None
) -> None:
    meddling = AppendsBetweenReads(records, case)
    taken = await anchoring(meddling, blobs).checkpoint(case.id, case.region)
    assert meddling.appended == 1
    assert taken is not None, "no checkpoint was taken"
    entries, _head = await chain_of(records, case)
    signed = entries[taken.sequence - 1]
    assert (taken.sequence, taken.entry_hash) == (signed.sequence, signed.hash)
    async with records.unit() as unit:
        assert await unit.last_noted_checkpoint(case.id) == (taken.sequence, taken.entry_hash)
