"""Integrity sweep read rate: `python -m bench.sweep [--size-mib N] [--repeat 3]`.

One N MiB blob is stored in Azurite (on disk) through `BlobEvidenceStore.put`, then re-hashed
as the sweep does (`rehash` with the sweep's `Pacer` in `on_progress`): unpaced (the budget set
far above what Azurite can give) to measure the read rate, and paced at the default budget to
show the pacer holding it. Medians of `--repeat` runs, in MB/s (10^6 bytes) and MiB/s.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

from devtools.devstack import Children, Ports, make_accounts, start_azurite
from exhibit.settings.sweep import DEFAULT_SWEEP_BYTES_PER_SECOND
from storage.blobs import RegionAccount, RegionalBlobServices, blob_service
from storage.evidence_store import BlobEvidenceStore
from worker.pacing import Clock, Pacer

MIB = 1024 * 1024
REGION = "bench"
UNPACED = 1 << 40  # a budget no local disk reaches


async def _chunks(size: int) -> AsyncIterator[bytes]:
    piece = os.urandom(MIB)
    for _ in range(size // MIB):
        yield piece


async def _timed_rehash(store: BlobEvidenceStore, budget: int) -> float:
    pacer = Pacer(budget, Clock())
    read = 0

    async def progress(total: int) -> None:
        nonlocal read
        await pacer.read(total - read)
        read = total

    started = time.perf_counter()
    await store.rehash(REGION, "sweep-bench", on_progress=progress)
    return time.perf_counter() - started


async def measure(connection_string: str, size: int, repeat: int) -> None:
    """Store the blob once, then time unpaced and paced re-hashes."""
    services = RegionalBlobServices(
        {REGION: blob_service(RegionAccount(REGION, connection_string))}
    )
    store = BlobEvidenceStore(services)
    try:
        await store.put(
            REGION, "sweep-bench", _chunks(size), content_type="application/octet-stream",
            metadata={}, tags={"bench": "sweep"},
        )  # fmt: skip
        for label, budget in (("unpaced", UNPACED), ("paced", DEFAULT_SWEEP_BYTES_PER_SECOND)):
            times = [await _timed_rehash(store, budget) for _ in range(repeat)]
            median = statistics.median(times)
            print(
                f"{label:8} {size / MIB:.0f} MiB: median {median:.2f} s = "
                f"{size / median / 1e6:.1f} MB/s ({size / median / MIB:.1f} MiB/s) "
                f"over {repeat} runs"
            )
    finally:
        await services.aclose()


def main() -> None:
    """Start Azurite on disk, measure, stop it."""
    parser = argparse.ArgumentParser(prog="python -m bench.sweep")
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        children = Children(Path(work) / "logs")
        ports = Ports.free()
        accounts = make_accounts()
        try:
            start_azurite(children, ports, accounts, location=Path(work) / "azurite")
            connection = accounts[0].connection_string(ports)
            asyncio.run(measure(connection, args.size_mib * MIB, args.repeat))
        finally:
            children.stop()


if __name__ == "__main__":
    main()
