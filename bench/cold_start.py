"""P5, cold start: `python -m bench.cold_start [--runs 5]`.

Exhibit: from spawning `python -m exhibit` (anonymous, SQLite, Azurite in memory, the local
directory; the database already migrated, as on every start but the first after a release) to
the first `GET /readyz` answering 200 — database and every region's storage reachable.
Baseline: from spawning the bare agent (`bench/bare_agent.py`) to its port accepting
connections. Both are polled every 10 ms; the sides alternate which goes first in each run;
medians of `--runs` runs. `--first-start` gives Exhibit a new database each run instead
(so its start includes creating the schema). Both start from compiled bytecode, as in the image
(its Dockerfile compiles everything at build; PYTHONDONTWRITEBYTECODE would otherwise make every
start compile the sources it changed since the last compile).
"""

from __future__ import annotations

import argparse
import asyncio
import compileall
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

from devtools.devstack import DevStack, Ports, free_port, port_in_use, start_azurite
from storage.database import create_engine
from storage.migrate import migrate

ROOT = Path(__file__).resolve().parents[1]
POLL_SECONDS = 0.01
TIMEOUT_SECONDS = 120.0


def _ready(url: str) -> Callable[[], bool]:
    def check() -> bool:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback)
                return int(response.status) == 200
        except (urllib.error.URLError, OSError):
            return False

    return check


def _listening(port: int) -> Callable[[], bool]:
    return lambda: port_in_use(port)


def cpu_seconds(pid: int) -> float:
    """User and system CPU time process `pid` has used so far (Linux `/proc`)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def time_start(
    args: list[str], env: dict[str, str], ready: Callable[[], bool], log: Path
) -> tuple[float, float]:
    """Seconds from spawning `args` until `ready()`, and the CPU seconds the process used in
    that time; the process is stopped afterwards."""
    with log.open("ab") as output:
        started = time.perf_counter()
        process = subprocess.Popen(  # noqa: S603 (this interpreter, fixed modules)
            args, env={**os.environ, **env}, stdout=output, stderr=subprocess.STDOUT
        )
        try:
            while not ready():
                if process.poll() is not None:
                    raise RuntimeError(f"{args[2]} exited while starting; see {log}")
                if time.perf_counter() - started > TIMEOUT_SECONDS:
                    raise RuntimeError(f"{args[2]} did not start; see {log}")
                time.sleep(POLL_SECONDS)
            return time.perf_counter() - started, cpu_seconds(process.pid)
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def main(argv: list[str] | None = None) -> int:
    """Start Azurite once, then time both sides' starts, alternating."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.cold_start", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--first-start", action="store_true")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    compileall.compile_dir(
        ROOT, rx=re.compile(r"[/\\](\.venv|node_modules|\.git)[/\\]"), quiet=1, workers=0
    )
    with tempfile.TemporaryDirectory(prefix="exhibit-cold-") as work_dir:
        work = Path(work_dir)
        ports = Ports.free()
        stack = DevStack(work, ports=ports, in_memory_storage=True)
        env = stack.bot_environment()
        env["EXHIBIT_LOG_LEVEL"] = "WARNING"
        start_azurite(stack.children, ports, stack.accounts, None)
        try:
            return _measure(args, work, ports, env)
        finally:
            stack.stop()


def _measure(args: argparse.Namespace, work: Path, ports: Ports, env: dict[str, str]) -> int:
    exhibit_args = [sys.executable, "-m", "exhibit", "--env-file", os.devnull]
    if not args.first_start:
        asyncio.run(_migrated(env["EXHIBIT_DATABASE_URL"]))
    times: dict[str, list[float]] = {"exhibit": [], "bare": []}
    cpu: dict[str, list[float]] = {"exhibit": [], "bare": []}
    for run in range(args.runs):
        bare_port = free_port()
        bare: tuple[list[str], dict[str, str], Callable[[], bool]] = (
            [sys.executable, "-m", "bench.bare_agent", "--port", str(bare_port)],
            {},
            _listening(bare_port),
        )
        exhibit_env = dict(env)
        if args.first_start:
            exhibit_env["EXHIBIT_DATABASE_URL"] = f"sqlite+aiosqlite:///{work / f'new-{run}.db'}"
        exhibit = (exhibit_args, exhibit_env, _ready(f"http://127.0.0.1:{ports.bot}/readyz"))
        sides = {"exhibit": exhibit, "bare": bare}
        order = list(sides) if run % 2 == 0 else list(reversed(sides))
        for side in order:
            command, side_env, ready = sides[side]
            seconds, cpu_used = time_start(command, side_env, ready, work / f"{side}.log")
            times[side].append(seconds)
            cpu[side].append(cpu_used)
            print(f"run {run + 1} {side:7}: {seconds:.2f} s ({cpu_used:.2f} s CPU)", flush=True)
    exhibit_median = statistics.median(times["exhibit"])
    bare_median = statistics.median(times["bare"])
    # Each run's two starts are seconds apart, so their ratio is the least touched by the load
    # of other work on the machine drifting during the benchmark.
    paired = statistics.median(e / b for e, b in zip(times["exhibit"], times["bare"], strict=True))
    print(
        f"\nmedians of {args.runs}: Exhibit to /readyz 200 {exhibit_median:.2f} s, bare agent to "
        f"listening {bare_median:.2f} s, ratio {exhibit_median / bare_median:.2f}; median of the "
        f"runs' own ratios {paired:.2f}"
    )
    # CPU time is less touched by other work on the machine than the wall clock is.
    exhibit_cpu, bare_cpu = statistics.median(cpu["exhibit"]), statistics.median(cpu["bare"])
    print(
        f"CPU time to the same points, medians: Exhibit {exhibit_cpu:.2f} s, bare agent "
        f"{bare_cpu:.2f} s, ratio {exhibit_cpu / bare_cpu:.2f}"
    )
    return 0


async def _migrated(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await migrate(engine)
    finally:
        await engine.dispose()


if __name__ == "__main__":
    sys.exit(main())
