"""Evidence ingest benchmarks: `python -m bench.ingest [--size-mib N] [--repeat 3]`.

P1, throughput: N MiB streamed from a local HTTP source (a separate process serving generated
bytes) through `BlobEvidenceStore.put` (SHA-256 in the same pass) into Azurite on disk, against
the SDK's own `upload_blob(max_concurrency=4)` of the same bytes from a local file, in the same
run, alternating which goes first; the result is the ratio of the medians (goal >= 1.0).

P2, memory: each size is ingested by a fresh process that warms up with a 16 MiB put, resets
its peak RSS (`/proc/self/clear_refs`), then ingests while a thread samples VmRSS; growth is
the peak (VmHWM or the highest sample) minus the RSS before the ingest. Goal: <= 64 MiB, and
1 GiB and 4 GiB within 16 MiB of each other.

Azurite and the source run as children (their own process groups) and are stopped on exit.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import hashlib
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import aiohttp

from bench.source import generated, pattern
from devtools.devstack import ROOT, Children, Ports, free_port, make_accounts, start_azurite
from storage.blobs import RegionAccount, RegionalBlobServices, blob_service
from storage.evidence_store import BlobEvidenceStore

MIB = 1024 * 1024
REGION = "bench"
CONNECTION_ENV = "EXHIBIT_BENCH_CONNECTION_STRING"
WARM_UP_BYTES = 16 * MIB
HTTP_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=60)


@dataclass(frozen=True, slots=True)
class Tuning:
    """What the store is run with."""

    block_mib: int
    concurrency: int
    quick_xor: bool
    read_bufsize_kib: int


@dataclass(frozen=True, slots=True)
class Run:
    """One timed transfer."""

    side: str  # "store" or "sdk"
    seconds: float
    cpu_seconds: float  # this process, all threads

    def mb_per_s(self, size: int) -> float:
        """Throughput in MB/s (10^6 bytes)."""
        return size / self.seconds / 1e6


def vm_kib(field: str) -> int:
    """A `VmXXX` line of /proc/self/status, in KiB."""
    with open("/proc/self/status", encoding="ascii") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def reset_peak_rss() -> None:
    """Reset VmHWM to the current RSS (Linux >= 4.0); procfs, so no disk wait."""
    with open("/proc/self/clear_refs", "w", encoding="ascii") as clear_refs:
        clear_refs.write("5")


class RssSampler:
    """Samples VmRSS every few milliseconds on a thread (not on the event loop)."""

    def __init__(self, interval: float = 0.005) -> None:
        self.peak_kib = 0
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak_kib = max(self.peak_kib, vm_kib("VmRSS"))
            self._stop.wait(self._interval)


def make_store(
    connection_string: str, container: str, tuning: Tuning
) -> tuple[BlobEvidenceStore, RegionalBlobServices]:
    """A store on the benchmark's Azurite account, and its clients (to close)."""
    account = RegionAccount(REGION, connection_string=connection_string)
    services = RegionalBlobServices({REGION: blob_service(account)})
    store = BlobEvidenceStore(
        services, container, block_size=tuning.block_mib * MIB, concurrency=tuning.concurrency
    )
    return store, services


async def ingest(
    store: BlobEvidenceStore,
    session: aiohttp.ClientSession,
    url: str,
    name: str,
    tuning: Tuning,
) -> str:
    """Stream `url` into the store as `name`; return the SHA-256."""
    async with session.get(url, timeout=HTTP_TIMEOUT) as response:
        response.raise_for_status()
        stored = await store.put(
            REGION,
            name,
            response.content.iter_any(),
            content_type="application/octet-stream",
            metadata={},
            tags={"bench": "ingest"},
            quick_xor=tuning.quick_xor,
        )
    return stored.sha256


async def timed(side: str, work: Awaitable[object]) -> Run:
    """Time an awaitable: wall clock and this process's CPU."""
    wall, cpu = time.perf_counter(), time.process_time()
    await work
    return Run(side, time.perf_counter() - wall, time.process_time() - cpu)


async def p1(
    connection_string: str, source: str, size: int, repeat: int, tuning: Tuning, workdir: Path
) -> dict[str, Any]:
    """Store from HTTP against the SDK's upload_blob from a file, same bytes, `repeat` times."""
    path = workdir / "source.bin"
    expected = await asyncio.to_thread(write_source_file, path, size)
    store, services = make_store(connection_string, "bench-store", tuning)
    service = blob_service(RegionAccount(REGION, connection_string=connection_string))
    container = service.get_container_client("bench-sdk")
    await container.create_container()
    session = aiohttp.ClientSession(read_bufsize=tuning.read_bufsize_kib * 1024)
    runs: list[Run] = []
    try:

        async def sdk_upload(name: str, length: int) -> None:
            stream = await asyncio.to_thread(path.open, "rb")
            try:
                await container.upload_blob(name, stream, length=length, max_concurrency=4)
            finally:
                stream.close()
            await container.delete_blob(name)

        async def store_ingest(name: str, length: int) -> None:
            sha256 = await ingest(store, session, f"{source}/bytes/{length}", name, tuning)
            if length == size and sha256 != expected:
                raise AssertionError("the store hashed other bytes than the file holds")
            await store_container.delete_blob(name)

        store_container = service.get_container_client(store.container)
        await store_ingest("warm-up", WARM_UP_BYTES)
        await sdk_upload("warm-up", WARM_UP_BYTES)
        for index in range(repeat):
            pair = [
                ("store", store_ingest(f"run-{index}", size)),
                ("sdk", sdk_upload(f"run-{index}", size)),
            ]
            for side, work in pair if index % 2 == 0 else reversed(pair):
                run = await timed(side, work)
                runs.append(run)
                print(f"  P1 {side:5} {run.mb_per_s(size):6.1f} MB/s  ({run.seconds:.1f} s)")
    finally:
        await session.close()
        await service.close()
        await services.aclose()
        path.unlink(missing_ok=True)
    medians = {
        side: statistics.median(r.mb_per_s(size) for r in runs if r.side == side)
        for side in ("store", "sdk")
    }
    return {
        "size_mib": size // MIB,
        "repeat": repeat,
        "store_mb_s": [round(r.mb_per_s(size), 1) for r in runs if r.side == "store"],
        "sdk_mb_s": [round(r.mb_per_s(size), 1) for r in runs if r.side == "sdk"],
        "store_cpu_s": [round(r.cpu_seconds, 1) for r in runs if r.side == "store"],
        "sdk_cpu_s": [round(r.cpu_seconds, 1) for r in runs if r.side == "sdk"],
        "median_store_mb_s": round(medians["store"], 1),
        "median_sdk_mb_s": round(medians["sdk"], 1),
        "ratio": round(medians["store"] / medians["sdk"], 3),
        # each round's two runs are back to back: their ratio is less exposed to load drift
        "paired_ratio_median": round(
            statistics.median(sdk.seconds / store.seconds for store, sdk in rounds(runs)),
            3,
        ),
    }


def rounds(runs: list[Run]) -> list[tuple[Run, Run]]:
    """(store, sdk) per round; runs come in back-to-back pairs, in either order."""
    pairs = [runs[index : index + 2] for index in range(0, len(runs), 2)]
    return [
        (next(r for r in pair if r.side == "store"), next(r for r in pair if r.side == "sdk"))
        for pair in pairs
    ]


def write_source_file(path: Path, size: int) -> str:
    """Write the bytes the source serves to `path`; return their SHA-256."""
    digest = hashlib.sha256()
    with path.open("wb") as out:
        for part in generated(size, pattern()):
            out.write(part)
            digest.update(part)
    return digest.hexdigest()


async def rss_worker(size: int, source: str, tuning: Tuning) -> dict[str, Any]:
    """In a fresh process: warm up, then measure RSS growth over one ingest of `size` bytes."""
    store, services = make_store(os.environ[CONNECTION_ENV], "bench-rss", tuning)
    session = aiohttp.ClientSession(read_bufsize=tuning.read_bufsize_kib * 1024)
    try:
        warm_up = f"{source}/bytes/{WARM_UP_BYTES}"
        await ingest(store, session, warm_up, f"warm-up-{os.getpid()}", tuning)
        gc.collect()
        before = vm_kib("VmRSS")
        reset_peak_rss()
        with RssSampler() as sampler:
            url = f"{source}/bytes/{size}"
            run = await timed("store", ingest(store, session, url, f"big-{os.getpid()}", tuning))
        peak = max(vm_kib("VmHWM"), sampler.peak_kib)
    finally:
        await session.close()
        await services.aclose()
    return {
        "size_mib": size // MIB,
        "rss_before_mib": round(before / 1024, 1),
        "rss_peak_mib": round(peak / 1024, 1),
        "growth_mib": round((peak - before) / 1024, 1),
        "mb_s": round(run.mb_per_s(size), 1),
    }


def p2(connection_string: str, source: str, sizes: list[int], tuning: Tuning) -> list[Any]:
    """Run one RSS worker process per size."""
    results = []
    for size in sizes:
        args = [sys.executable, "-m", "bench.ingest", "--rss-worker", str(size // MIB)]
        args += ["--source", source, *tuning_args(tuning)]
        env = {**os.environ, CONNECTION_ENV: connection_string}
        done = subprocess.run(  # noqa: S603 (this module, fixed arguments)
            args, cwd=ROOT, env=env, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"the RSS worker for {size // MIB} MiB failed:\n{done.stderr}")
        result = json.loads(done.stdout.strip().splitlines()[-1])
        print(f"  P2 {result['size_mib']:5} MiB: RSS +{result['growth_mib']} MiB ({result})")
        results.append(result)
    return results


def tuning_args(tuning: Tuning) -> list[str]:
    """Command-line arguments that reproduce `tuning`."""
    args = ["--block-mib", str(tuning.block_mib), "--concurrency", str(tuning.concurrency)]
    args += ["--read-bufsize-kib", str(tuning.read_bufsize_kib)]
    return [*args, "--quick-xor"] if tuning.quick_xor else args


def parse(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(prog="python -m bench.ingest", description=__doc__)
    parser.add_argument("--size-mib", type=int, default=1024, help="P1 size (default 1024)")
    parser.add_argument("--repeat", type=int, default=3, help="P1 runs per side (default 3)")
    parser.add_argument("--rss-mib", default="1024,4096", help="P2 sizes (default 1024,4096)")
    parser.add_argument("--skip-p1", action="store_true")
    parser.add_argument("--skip-p2", action="store_true")
    parser.add_argument("--block-mib", type=int, default=8)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--read-bufsize-kib", type=int, default=1024, help="aiohttp client")
    parser.add_argument("--quick-xor", action="store_true", help="also compute QuickXorHash")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--rss-worker", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--source", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Start Azurite (on disk) and the source, run P1 and P2, print the results."""
    args = parse(argv)
    tuning = Tuning(args.block_mib, args.concurrency, args.quick_xor, args.read_bufsize_kib)
    if args.rss_worker is not None:
        print(json.dumps(asyncio.run(rss_worker(args.rss_worker * MIB, args.source, tuning))))
        return 0
    with tempfile.TemporaryDirectory(prefix="exhibit-bench-") as tmp:
        workdir = Path(tmp)
        children = Children(workdir / "logs")
        ports, accounts = Ports.free(), make_accounts()[:1]
        source_port = free_port()
        source = f"http://127.0.0.1:{source_port}"
        connection_string = accounts[0].connection_string(ports)
        results: dict[str, Any] = {
            "machine": {
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "platform": platform.platform(),
            },
            "tuning": asdict(tuning),
        }
        try:
            start_azurite(children, ports, accounts, location=workdir / "azurite")
            children.spawn(
                "source", [sys.executable, "-m", "bench.source", "--port", str(source_port)], {}
            )
            children.wait_port("source", source_port)
            if not args.skip_p1:
                size = args.size_mib * MIB
                results["p1"] = asyncio.run(
                    p1(connection_string, source, size, args.repeat, tuning, workdir)
                )
                print(f"P1: ratio {results['p1']['ratio']} ({results['p1']})")
            if not args.skip_p2:
                sizes = [int(s) * MIB for s in args.rss_mib.split(",")]
                results["p2"] = p2(connection_string, source, sizes, tuning)
        finally:
            children.stop()
    print(json.dumps(results, indent=2))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
