"""Every benchmark in one command: `python -m bench [--quick] [--only p1p2,p3,p5,checkpoints,soak]`.

Runs, one after the other, each in this process through its module's `main(argv)`:
P1/P2 ingest throughput and memory (`bench.ingest`), P3 turn throughput against a bare agent
(`bench.turns`), P5 cold start (`bench.cold_start`), checkpoint reads (`bench.checkpoint_reads`)
and the soak (`bench.soak`). Each starts
and stops its own Azurite, source and processes. A benchmark whose module is not there is named
and skipped; one that fails does not stop the others. `--quick` runs each briefly, to check the
harness rather than to measure. Exit status 0 only when every benchmark ran and passed.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from devtools.devstack import ROOT


@dataclass(frozen=True, slots=True)
class Benchmark:
    """One benchmark module and the argument lists it is run with, full and quick (one run of
    `main` per list); `json` is the file it writes its results to with `--json FILE`."""

    key: str
    title: str
    module: str
    full: tuple[tuple[str, ...], ...]
    quick: tuple[tuple[str, ...], ...]
    json: str | None = None


QUICK_INGEST = ("--size-mib", "64", "--repeat", "1", "--rss-mib", "64,128")
QUICK_TURNS = ("--conversations", "10", "--messages", "3", "--rounds", "1", "--runs", "1")
QUICK_SOAK = ("--minutes", "1", "--conversations", "10", "--cases", "3", "--file-mib", "10")
BENCHMARKS = (
    Benchmark("p1p2", "P1/P2 ingest", "bench.ingest", ((),), (QUICK_INGEST,), "ingest.json"),
    Benchmark(
        "p3",
        "P3 turns against a bare agent",
        "bench.turns",
        (("--command", "help"), ("--command", "evidence-list")),
        (("--command", "help", *QUICK_TURNS), ("--command", "evidence-list", *QUICK_TURNS)),
    ),
    Benchmark("p5", "P5 cold start", "bench.cold_start", ((),), (("--runs", "1"),)),
    Benchmark(
        "checkpoints",
        "checkpoint reads",
        "bench.checkpoint_reads",
        ((),),
        (("--checkpoints", "30", "--runs", "1"),),
    ),
    Benchmark(
        "soak", "soak", "bench.soak", ((),), ((*QUICK_SOAK, "--ingest-every", "10"),), "soak.json"
    ),
)


def run(benchmark: Benchmark, quick: bool, out: Path) -> str:
    """Run one benchmark (each of its argument lists); its outcome in a word or two."""
    try:
        module = importlib.import_module(benchmark.module)
    except ModuleNotFoundError as err:
        if err.name != benchmark.module:
            raise
        return f"missing ({benchmark.module} is not there)"
    main: Callable[[list[str] | None], int] = module.main
    started = time.monotonic()
    statuses = []
    for number, arguments in enumerate(benchmark.quick if quick else benchmark.full, 1):
        args = list(arguments)
        if benchmark.json is not None:
            args += ["--json", str(out / benchmark.json.replace(".json", f"-{number}.json"))]
        print(f"\n=== {benchmark.title}: python -m {benchmark.module} {' '.join(args)}", flush=True)
        statuses.append(run_main(benchmark.module, main, args))
    took = f"{time.monotonic() - started:.0f} s"
    failed = [status for status in statuses if status != 0]
    return f"passed ({took})" if not failed else f"FAILED, exit {failed[0]} ({took})"


def run_main(module: str, main: Callable[[list[str] | None], int], args: list[str]) -> int:
    """`main(args)`'s exit status, whatever it raised."""
    try:
        return main(args)
    except SystemExit as exit_:  # argparse, or a module that exits
        return exit_.code if isinstance(exit_.code, int) else 1
    except Exception as err:  # one benchmark's failure must not stop the rest
        print(f"{module} failed: {type(err).__name__}: {err}", file=sys.stderr)
        return 1


def main(argv: list[str] | None = None) -> int:
    """Run the chosen benchmarks and print one line each."""
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="brief runs: check, not measure")
    parser.add_argument(
        "--only",
        default=",".join(b.key for b in BENCHMARKS),
        help="comma-separated, of: " + ", ".join(b.key for b in BENCHMARKS),
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / "artifacts" / "bench", help="where results go (JSON)"
    )
    args = parser.parse_args(argv)
    chosen = args.only.split(",")
    unknown = sorted(set(chosen) - {b.key for b in BENCHMARKS})
    if unknown:
        parser.error(f"no such benchmark: {', '.join(unknown)}")
    args.out.mkdir(parents=True, exist_ok=True)
    outcomes = [(b, run(b, args.quick, args.out)) for b in BENCHMARKS if b.key in chosen]
    print("\n=== Benchmarks" + (" (quick)" if args.quick else ""))
    for benchmark, outcome in outcomes:
        print(f"  {benchmark.key:5} {benchmark.title}: {outcome}")
    return 0 if all(outcome.startswith("passed") for _, outcome in outcomes) else 1


if __name__ == "__main__":
    sys.exit(main())
