"""Retention policies and legal holds through the real Blob SDK, against the documented REST.

Azurite stores the bytes; `tests.fakes.blob_immutability` answers the two immutability
operations Azurite lacks, and refuses a malformed call.
"""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from aiohttp import ClientSession
from azure.core.exceptions import HttpResponseError, ResourceExistsError

from exhibit.settings import load_settings
from exhibit.settings.base import SettingsError
from storage.blobs import ClientPolicy, RegionAccount, RegionalBlobServices, blob_service
from storage.evidence_store import BlobEvidenceStore
from storage.immutability import (
    CHECKPOINT_CONTAINER,
    EVIDENCE_CONTAINER,
    RegionImmutability,
    apply_retention,
)
from tests.conftest import Azurite
from tests.fakes.blob_immutability import ImmutableBlobs, immutable_blob_endpoint

NOW = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
QUICK = ClientPolicy(connect_timeout=3, read_timeout=10, retries=0, first_backoff=0)


def through(azurite: Azurite, origin: str, region: str) -> str:
    """`region`'s Azurite connection string with its Blob endpoint at the fake."""
    return azurite.connection_string(region).replace(
        f"http://127.0.0.1:{azurite.ports.blob}", origin
    )


@pytest.fixture
async def fake(azurite: Azurite) -> AsyncIterator[tuple[str, ImmutableBlobs]]:
    async with immutable_blob_endpoint(f"http://127.0.0.1:{azurite.ports.blob}") as served:
        yield served


@pytest.fixture
async def services(
    azurite: Azurite, fake: tuple[str, ImmutableBlobs]
) -> AsyncIterator[RegionalBlobServices]:
    origin, _ = fake
    regional = RegionalBlobServices(
        {
            region: blob_service(
                RegionAccount(region, connection_string=through(azurite, origin, region)),
                policy=QUICK,
            )
            for region in ("uksouth", "ukwest")
        }
    )
    yield regional
    await regional.aclose()


@pytest.fixture
def immutability(services: RegionalBlobServices) -> RegionImmutability:
    """uksouth supports immutability (30 days); ukwest does not."""
    return RegionImmutability(services, {"uksouth": 30, "ukwest": None})


async def one_chunk(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def commit(store: BlobEvidenceStore, region: str, name: str) -> None:
    await store.put(
        region, name, one_chunk(b"evidence " + name.encode()), content_type="text/plain",
        metadata={}, tags={},
    )  # fmt: skip


async def checkpoint(services: RegionalBlobServices, region: str, name: str) -> None:
    container = services.client(region).get_container_client(CHECKPOINT_CONTAINER)
    with contextlib.suppress(ResourceExistsError):
        await container.create_container()
    await container.get_blob_client(name).upload_blob(b"{}", overwrite=False)


def store_for(
    services: RegionalBlobServices, immutability: RegionImmutability
) -> BlobEvidenceStore:
    return BlobEvidenceStore(
        services, EVIDENCE_CONTAINER, immutability=immutability, now=lambda: NOW
    )


async def test_a_committed_blob_gets_a_retention_policy_of_the_regions_days(
    services: RegionalBlobServices,
    immutability: RegionImmutability,
    fake: tuple[str, ImmutableBlobs],
) -> None:
    _, state = fake
    store = store_for(services, immutability)
    name = f"{uuid.uuid4()}/job-1"
    await commit(store, "uksouth", name)
    await store.protect("uksouth", name, legal_hold=False)
    key = f"exhibituksouth/{EVIDENCE_CONTAINER}/{name}"
    assert state.policies[key].until == NOW + timedelta(days=30)
    assert state.policies[key].mode == "Unlocked"
    assert key not in state.holds
    await store.protect("uksouth", name, legal_hold=True)  # repeating it is harmless
    assert state.holds[key] is True


async def test_a_region_without_immutability_gets_no_call(
    services: RegionalBlobServices,
    immutability: RegionImmutability,
    fake: tuple[str, ImmutableBlobs],
) -> None:
    _, state = fake
    store = store_for(services, immutability)
    name = f"{uuid.uuid4()}/job-1"
    await commit(store, "ukwest", name)
    await store.protect("ukwest", name, legal_hold=True)
    assert (await immutability.hold_case("ukwest", name.split("/")[0], True)).supported is False
    assert state.calls == []


async def test_hold_case_holds_every_evidence_and_checkpoint_blob_of_the_case_only(
    services: RegionalBlobServices,
    immutability: RegionImmutability,
    fake: tuple[str, ImmutableBlobs],
) -> None:
    _, state = fake
    store = store_for(services, immutability)
    case, other = str(uuid.uuid4()), str(uuid.uuid4())
    for name in (f"{case}/a", f"{case}/b", f"{other}/c"):
        await commit(store, "uksouth", name)
    await checkpoint(services, "uksouth", f"{case}/000000000001.json")

    held = await immutability.hold_case("uksouth", case, True)

    assert (held.supported, held.changed, held.failed, held.complete) == (True, 3, 0, True)
    assert {n for n in state.held("exhibituksouth", EVIDENCE_CONTAINER) if n.startswith(case)} == {
        f"{case}/a",
        f"{case}/b",
    }
    assert state.held("exhibituksouth", CHECKPOINT_CONTAINER) >= {f"{case}/000000000001.json"}
    assert f"{other}/c" not in state.held("exhibituksouth", EVIDENCE_CONTAINER)

    released = await immutability.hold_case("uksouth", case, False)
    assert (released.changed, released.complete) == (3, True)
    assert not any(n.startswith(case) for n in state.held("exhibituksouth", EVIDENCE_CONTAINER))


async def test_storage_going_away_mid_way_is_counted_and_a_repeat_finishes(
    services: RegionalBlobServices,
    immutability: RegionImmutability,
    fake: tuple[str, ImmutableBlobs],
) -> None:
    _, state = fake
    store = store_for(services, immutability)
    case = str(uuid.uuid4())
    for n in range(4):
        await commit(store, "uksouth", f"{case}/{n}")
    state.fail_holds, state.fail_after = 503, 1

    partial = await immutability.hold_case("uksouth", case, True)
    assert (partial.changed, partial.failed, partial.complete) == (1, 3, False)

    state.fail_holds = None
    again = await immutability.hold_case("uksouth", case, True)
    assert (again.changed, again.failed, again.complete) == (4, 0, True)
    assert (
        len([n for n in state.held("exhibituksouth", EVIDENCE_CONTAINER) if n.startswith(case)])
        == 4
    )


async def test_the_fake_refuses_calls_the_service_would_refuse(
    services: RegionalBlobServices, fake: tuple[str, ImmutableBlobs], azurite: Azurite
) -> None:
    origin, state = fake
    store = BlobEvidenceStore(services, EVIDENCE_CONTAINER)
    name = f"{uuid.uuid4()}/job"
    await commit(store, "uksouth", name)
    url = f"{origin}/exhibituksouth/{EVIDENCE_CONTAINER}/{name}?comp=legalhold"
    async with ClientSession() as session:
        unsigned = await session.put(url, headers={"x-ms-legal-hold": "true"})
        assert unsigned.status == 400
    blob = services.client("uksouth").get_blob_client(EVIDENCE_CONTAINER, name)
    with pytest.raises(HttpResponseError) as past:
        await apply_retention(blob, 30, now=NOW - timedelta(days=60))  # expiry in the past
    assert past.value.status_code == 400
    missing = services.client("uksouth").get_blob_client(EVIDENCE_CONTAINER, f"{name}-none")
    with pytest.raises(HttpResponseError) as absent:
        await missing.set_legal_hold(True)
    assert absent.value.status_code == 404
    assert state.holds == {}


@pytest.mark.parametrize("days", ["0", "146001", "ten", "-5"])
def test_the_retention_setting_is_held_to_azures_bounds(
    base_env: dict[str, str], days: str
) -> None:
    with pytest.raises(SettingsError, match="EXHIBIT_REGION_UKSOUTH_IMMUTABILITY_DAYS"):
        load_settings({**base_env, "EXHIBIT_REGION_UKSOUTH_IMMUTABILITY_DAYS": days})


def test_the_retention_setting_is_per_region(base_env: dict[str, str]) -> None:
    settings = load_settings({**base_env, "EXHIBIT_REGION_UKSOUTH_IMMUTABILITY_DAYS": "146000"})
    assert settings.region("uksouth").immutability_days == 146_000
    assert settings.region("ukwest").immutability_days is None
