"""Reading a case's checkpoints: `python -m bench.checkpoint_reads [--checkpoints 300] [--runs 3]`.

Every custody view, verify and decision reads all of its chain's signed checkpoints from Blob
storage (`BlobCheckpointStore.checkpoints`), and a busy case gains one every
`EXHIBIT_CHECKPOINT_MINUTES` (hundreds a day). This writes `--checkpoints` of them to one chain in
Azurite (in memory), then times a first read (each downloaded once) against later reads by the
same store (listed; downloaded again only if a blob's ETag changed). Medians of `--runs`, each
run on a new chain and a new store; the result is the ratio first : later.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from devtools.devstack import DevStack, Ports, start_azurite
from evidence.checkpoints import Checkpoint, SignedCheckpoint
from signing.local import LocalKeySigner, ensure_key_file
from storage.blobs import RegionAccount, RegionalBlobServices, blob_service
from storage.checkpoints import BlobCheckpointStore

REGION = "uksouth"


async def one_run(
    connection_string: str, signer: LocalKeySigner, count: int
) -> tuple[float, float]:
    """Seconds for a first read of `count` checkpoints and the median of three later reads."""
    services = RegionalBlobServices(
        {REGION: blob_service(RegionAccount(REGION, connection_string=connection_string))}
    )
    try:
        store = BlobCheckpointStore(services, "bench-checkpoints")
        chain = uuid.uuid4().hex
        for sequence in range(1, count + 1):
            checkpoint = Checkpoint(
                chain, sequence, f"{sequence:064x}", datetime.now(UTC), signer.key_id
            )
            payload = checkpoint.payload()
            await store.put(REGION, SignedCheckpoint(payload, await signer.sign(payload)))
        times = []
        for _ in range(4):
            started = time.perf_counter()
            read = await store.checkpoints(REGION, chain)
            times.append(time.perf_counter() - started)
            assert len(read) == count
        return times[0], statistics.median(times[1:])
    finally:
        await services.aclose()


def main(argv: list[str] | None = None) -> int:
    """Start Azurite, run, print the medians and the ratio."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.checkpoint_reads", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--checkpoints", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    with tempfile.TemporaryDirectory(prefix="exhibit-checkpoints-") as work_dir:
        work = Path(work_dir)
        ports = Ports.free()
        stack = DevStack(work, ports=ports, in_memory_storage=True)
        start_azurite(stack.children, ports, stack.accounts, None)
        try:
            connection = stack.bot_environment()[
                f"EXHIBIT_REGION_{REGION.upper()}_CONNECTION_STRING"
            ]
            signer = LocalKeySigner.from_file(ensure_key_file(work / "checkpoint.pem"))
            firsts, laters = [], []
            for run in range(args.runs):
                first, later = asyncio.run(one_run(connection, signer, args.checkpoints))
                firsts.append(first)
                laters.append(later)
                print(f"run {run + 1}: first read {first:.3f} s, later reads {later:.3f} s")
        finally:
            stack.stop()
    first, later = statistics.median(firsts), statistics.median(laters)
    print(
        f"\n{args.checkpoints} checkpoints, medians of {args.runs}: first read {first:.3f} s, "
        f"later reads {later:.3f} s, ratio {first / later:.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
