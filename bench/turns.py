"""P3, turn throughput against a bare agent: `python -m bench.turns [--runs 3] [--command help]`.

Exhibit (`python -m exhibit`, anonymous, SQLite on disk, Azurite in memory, the local
directory) and the bare agent (`bench/bare_agent.py`, same Agents SDK hosting and auth mode)
run as their own processes and reply to one recording connector (`bench/connector.py`) served
by this driver. Each round, `--conversations` personal chats at once each send `--messages`
messages one after another, each waiting for its reply (the latency: POST sent to reply
received). A run is `--rounds` rounds of one side; sides alternate which goes first in each
run. Throughput = messages answered ÷ wall time of the run's rounds; p99 over all its
latencies. The figures are medians over `--runs` runs and Exhibit ÷ bare ratios of medians.

For `evidence list`, Jane Smith (an officer) has opened the case in personal chat, so she is
on it; it holds `--exhibits` exhibits. Every `evidence list` records a `case.viewed` custody
entry before answering, as in production.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import ClientSession, ClientTimeout, TCPConnector, web

from bench.connector import BenchConnector
from devtools.devstack import DevStack, Ports, free_port, start_azurite, tenant_id
from evidence.cases import CaseRequest, open_case
from evidence.intake import IncomingFile, Received, complete_intake, start_intake
from evidence.model import SourceKind
from evidence.records import run_unit
from evidence.stored_blob import StoredBlob
from graph.local import LocalDirectory
from storage.database import create_engine
from storage.migrate import migrate
from storage.records import SqlRecords

ROOT = Path(__file__).resolve().parent.parent
JANE = "1a7e2c3d-0001-4f00-8000-000000000001"
CASE_REFERENCE = "MET-24-0001"
COMMANDS = {"help": "help", "evidence-list": f"evidence list {CASE_REFERENCE}"}


@dataclasses.dataclass(frozen=True, slots=True)
class RunResult:
    """One side's run: messages answered per second and latencies (seconds)."""

    throughput: float
    latencies: tuple[float, ...]
    cpu_ms_per_message: float

    @property
    def p99(self) -> float:
        """The 99th percentile latency."""
        return percentile(self.latencies, 0.99)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of process `pid` so far (Linux `/proc/<pid>/stat`)."""
    fields = Path(f"/proc/{pid}/stat").read_text(encoding="ascii").rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile of `values`."""
    ordered = sorted(values)
    rank = max(0, min(len(ordered) - 1, round(fraction * len(ordered) + 0.5) - 1))
    return ordered[rank]


async def seed(database_url: str, exhibits: int) -> None:
    """Jane's case with `exhibits` exhibits (records only: `evidence list` reads no blob)."""
    engine = create_engine(database_url)
    try:
        await migrate(engine)
        records = SqlRecords(engine)
        directory = await LocalDirectory.load(ROOT / "dev" / "directory.yaml")
        jane = await directory.officer(JANE)
        assert jane is not None
        now = datetime.now(UTC)
        request = CaseRequest(CASE_REFERENCE, "Burglary at 12 High Street", "uksouth")
        case = await run_unit(
            records,
            lambda unit: open_case(
                unit, jane, request, case_id=uuid.uuid4().hex, now=now, channel=None
            ),
        )
        files = [
            IncomingFile(SourceKind.TEAMS_FILE, "", f"photo-{n}.jpg", "image/jpeg", 1000 + n)
            for n in range(exhibits)
        ]
        jobs, _ = await run_unit(
            records,
            lambda unit: start_intake(
                unit, jane, case, set(), files, conversation_id="bench", activity_id="seed",
                conversation_reference="{}", receipt_activity_id=None, now=now,
            ),
        )  # fmt: skip
        for job in jobs:
            stored = StoredBlob("uksouth", f"{case.id}/{job.id}", 1000, "0" * 64, None)
            received = Received(stored, job.file_name, "image/jpeg", jane.initials)
            await run_unit(
                records,
                lambda unit, job=job, received=received: complete_intake(  # type: ignore[misc]
                    unit, job, case, received, now=now
                ),
            )
    finally:
        await engine.dispose()


def activity(service_url: str, conversation: str, activity_id: str, text: str) -> dict[str, object]:
    """A personal-chat message from Jane, as Teams sends it."""
    tenant = tenant_id()
    return {
        "type": "message",
        "id": activity_id,
        "timestamp": datetime.now(UTC).isoformat(),
        "channelId": "msteams",
        "serviceUrl": service_url,
        "from": {"id": "29:user-jane-smith", "name": "Jane Smith", "aadObjectId": JANE},
        "conversation": {"conversationType": "personal", "tenantId": tenant, "id": conversation},
        "recipient": {"id": "28:exhibit-local-bot", "name": "Exhibit"},
        "textFormat": "plain",
        "locale": "en-GB",
        "text": text,
        "channelData": {"tenant": {"id": tenant}},
    }


class Driver:
    """Sends messages to an agent and waits for each reply at the connector."""

    def __init__(self, connector: BenchConnector, service_url: str, session: ClientSession):
        self._connector = connector
        self._service_url = service_url
        self._session = session

    async def conversation(self, endpoint: str, name: str, text: str, count: int) -> list[float]:
        """`count` messages in one conversation, one after another; their latencies."""
        latencies = []
        for _ in range(count):
            activity_id = uuid.uuid4().hex
            replied = self._connector.expect(activity_id)
            started = time.perf_counter()
            body = activity(self._service_url, name, activity_id, text)
            async with self._session.post(endpoint, json=body) as response:
                if response.status >= 300:
                    raise RuntimeError(f"{endpoint} answered {response.status}")
            arrived = await asyncio.wait_for(replied, timeout=60)
            latencies.append(arrived - started)
        return latencies

    async def run(
        self, endpoint: str, pid: int, text: str, conversations: int, messages: int, rounds: int
    ) -> RunResult:
        """`rounds` rounds of `conversations` at once, `messages` each; `pid` serves them."""
        latencies: list[float] = []
        cpu_before = cpu_seconds(pid)
        started = time.perf_counter()
        for _ in range(rounds):
            tag = uuid.uuid4().hex[:8]
            results = await asyncio.gather(
                *(
                    self.conversation(endpoint, f"a:bench-{tag}-{n}", text, messages)
                    for n in range(conversations)
                )
            )
            for result in results:
                latencies.extend(result)
        elapsed = time.perf_counter() - started
        cpu = cpu_seconds(pid) - cpu_before
        return RunResult(len(latencies) / elapsed, tuple(latencies), cpu * 1000 / len(latencies))


def start_agents(work: Path, ports: Ports, exhibits: int) -> tuple[DevStack, dict[str, int]]:
    """Azurite in memory, Exhibit and the bare agent, each answering before this returns;
    the stack and the process id of each side."""
    stack = DevStack(work, ports=ports, in_memory_storage=True)
    env = stack.bot_environment()
    env["EXHIBIT_LOG_LEVEL"] = "WARNING"
    database_url = env["EXHIBIT_DATABASE_URL"]
    try:
        start_azurite(stack.children, ports, stack.accounts, None)
        asyncio.run(seed(database_url, exhibits))
        exhibit_args = [sys.executable, "-m", "exhibit", "--env-file", os.devnull]
        exhibit = stack.children.spawn("exhibit", exhibit_args, env)
        bare_args = [sys.executable, "-m", "bench.bare_agent", "--port", str(ports.playground)]
        bare = stack.children.spawn("bare", bare_args, {})
        stack.children.wait_http("exhibit", f"http://127.0.0.1:{ports.bot}/readyz")
        stack.children.wait_port("bare agent", ports.playground)
    except BaseException:
        stack.stop()
        raise
    return stack, {"exhibit": exhibit.pid, "bare": bare.pid}


async def measure(
    args: argparse.Namespace, ports: Ports, pids: dict[str, int], connector_port: int
) -> int:
    """Serve the connector, warm both sides up, then alternate runs; print the medians."""
    connector = BenchConnector()
    runner = web.AppRunner(connector.app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", connector_port).start()
    service_url = f"http://127.0.0.1:{connector_port}/"
    sides = {
        "exhibit": f"http://127.0.0.1:{ports.bot}/api/messages",
        "bare": f"http://127.0.0.1:{ports.playground}/api/messages",
    }
    text = COMMANDS[args.command]
    results: dict[str, list[RunResult]] = {side: [] for side in sides}
    try:
        async with ClientSession(
            connector=TCPConnector(limit=args.conversations * 2),
            timeout=ClientTimeout(total=120),
        ) as session:
            driver = Driver(connector, service_url, session)
            for side, endpoint in sides.items():  # warm-up: imports, caches, connections
                await driver.run(endpoint, pids[side], text, min(10, args.conversations), 2, 1)
            for run in range(args.runs):
                order = list(sides) if run % 2 == 0 else list(reversed(sides))
                for side in order:
                    result = await driver.run(
                        sides[side], pids[side], text, args.conversations, args.messages,
                        args.rounds,
                    )  # fmt: skip
                    results[side].append(result)
                    print(
                        f"run {run + 1} {side:7}: {result.throughput:7.1f} msg/s, "
                        f"p50 {percentile(result.latencies, 0.5) * 1000:7.1f} ms, "
                        f"p99 {result.p99 * 1000:7.1f} ms, "
                        f"CPU {result.cpu_ms_per_message:5.2f} ms/msg",
                        flush=True,
                    )
    finally:
        await runner.cleanup()
    report(args, results, connector)
    return 0


def report(
    args: argparse.Namespace, results: dict[str, list[RunResult]], connector: BenchConnector
) -> None:
    """Medians and ratios."""
    exhibit = results["exhibit"]
    bare = results["bare"]
    throughput = {
        side: statistics.median(r.throughput for r in runs) for side, runs in results.items()
    }
    p99 = {side: statistics.median(r.p99 for r in runs) for side, runs in results.items()}
    paired = statistics.median(
        e.throughput / b.throughput for e, b in zip(exhibit, bare, strict=True)
    )
    print(
        f"\n{COMMANDS[args.command]!r}: {args.conversations} conversations x {args.messages} "
        f"messages x {args.rounds} rounds, {args.runs} runs a side"
    )
    print(
        f"throughput: Exhibit {throughput['exhibit']:.1f} msg/s, bare {throughput['bare']:.1f} "
        f"msg/s, ratio {throughput['exhibit'] / throughput['bare']:.2f} (paired {paired:.2f})"
    )
    print(
        f"p99: Exhibit {p99['exhibit'] * 1000:.0f} ms, bare {p99['bare'] * 1000:.0f} ms, "
        f"ratio {p99['exhibit'] / p99['bare']:.2f}"
    )
    cpu = {
        side: statistics.median(r.cpu_ms_per_message for r in runs)
        for side, runs in results.items()
    }
    print(
        f"CPU per message: Exhibit {cpu['exhibit']:.2f} ms, bare {cpu['bare']:.2f} ms, "
        f"ratio {cpu['exhibit'] / cpu['bare']:.2f}"
    )
    print(f"replies {connector.replies}, unexpected {connector.unexpected}")


def main(argv: list[str] | None = None) -> int:
    """Start both agents, measure, stop them."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.turns", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--command", choices=sorted(COMMANDS), default="evidence-list")
    parser.add_argument("--conversations", type=int, default=50)
    parser.add_argument("--messages", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--exhibits", type=int, default=12, help="exhibits in the case")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    ports = Ports.free()
    connector_port = free_port()
    with tempfile.TemporaryDirectory(prefix="exhibit-bench-") as work:
        stack, pids = start_agents(Path(work), ports, args.exhibits)
        print(f"Exhibit pid {pids['exhibit']}, bare agent pid {pids['bare']}", flush=True)
        try:
            return asyncio.run(measure(args, ports, pids, connector_port))
        finally:
            stack.stop()


if __name__ == "__main__":
    sys.exit(main())
