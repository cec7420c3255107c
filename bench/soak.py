"""Soak: `python -m bench.soak [--minutes 5] [--conversations 50] [--file-mib 100]`.

Starts Exhibit as it runs in production, on this machine: the service (`python -m exhibit`,
its in-process worker off) and one ingest worker (`python -m exhibit worker`), SQLite, Azurite
on disk, the local file source (`bench/source.py`) and a recording connector in this process
(`bench/soak_connector.py`). Ten cases are opened in their channels and each gets a first
exhibit; then `--conversations` conversations (personal chats, and every fifth a case channel
thread) talk to Exhibit for `--minutes`, each waiting for the answer to one message before it
sends the next (a think time of 0.5 to 1.5 s between): help, whoami, case list, case show,
evidence list, evidence show, evidence verify, custody, share list and share requests. Every
`--ingest-every` seconds one of them sends a `--file-mib` MiB file (`add <case>`).

Reported: turns and their latency (first and last minute), errors (an answer that is an
apology or a refusal, a request not accepted, an ERROR line in a log: must be 0), lost (a
message never answered, a file whose receipt never said it was recorded, an intake job not
completed or without its exhibit in the database: must be 0), and for each process its RSS
sampled every `--sample-seconds` (mean of the first minute, of the last minute, their
difference, and a least-squares slope in MiB per minute) and CPU. Exit status 1 when any error
or loss was seen. `--json FILE` also writes the results.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from aiohttp import ClientSession, ClientTimeout, web

from bench.soak_connector import SoakConnector
from devtools.devstack import ROOT, DevStack, Ports, free_port, start_azurite, tenant_id

MIB = 1024 * 1024
TICKS = os.sysconf("SC_CLK_TCK")
REPLY_TIMEOUT = 60.0  # seconds a message may wait for its answer before it counts as lost
SEED_FILE_BYTES = MIB
BOT_ID = "28:exhibit-soak-bot"
TEAM_ID = "19:exhibit-soak-team@thread.tacv2"
SHARE_TO = "lawyer@cps.gov.uk"
# What no answer in this run should say: an apology, or a refusal of something allowed.
BAD_ANSWERS = re.compile(
    r"went wrong|could not do this just now|that you can see|not enrolled|Did you mean|"
    r"Not possible|not available to you|try again",
    re.IGNORECASE,
)
# A log line at ERROR or above: JSON logs (`"level": "ERROR"`), text logs, or a bare traceback.
ERROR_LINE = re.compile(r'"level": "(ERROR|CRITICAL)"| (ERROR|CRITICAL) |^Traceback')
WARNING_LINE = re.compile(r'"level": "WARNING"| WARNING ')


@dataclass(frozen=True, slots=True)
class Officer:
    """An officer of dev/directory.yaml, as Teams knows them."""

    object_id: str
    name: str

    @property
    def teams_id(self) -> str:
        """Their Teams user id (any stable id does; the directory is keyed by object id)."""
        return "29:soak-" + self.object_id

    @property
    def initials(self) -> str:
        """The initials their exhibit references start with."""
        return "".join(part[0] for part in self.name.split()[:2]).upper()

    def account(self) -> dict[str, str]:
        """Their ChannelAccount JSON."""
        return {"id": self.teams_id, "name": self.name, "aadObjectId": self.object_id}


def officers() -> list[Officer]:
    """The enabled officers (role officer) of the local directory."""
    directory = yaml.safe_load((ROOT / "dev" / "directory.yaml").read_text(encoding="utf-8"))
    return [
        Officer(entry["id"], entry["displayName"])
        for entry in directory["officers"]
        if entry.get("accountEnabled") and "Exhibit Officers" in entry.get("groups", [])
    ]


@dataclass(frozen=True, slots=True)
class Case:
    """A soak case: its reference, channel, and the exhibit it was seeded with."""

    reference: str
    channel: str
    opener: Officer

    @property
    def first_exhibit(self) -> str:
        """The seeded exhibit's reference."""
        return f"{self.opener.initials}/1"


@dataclass(frozen=True, slots=True)
class Chat:
    """One conversation of the soak: who talks, and where."""

    officer: Officer
    conversation: str
    channel: str | None  # a case channel's id for a channel thread, None for a personal chat


@dataclass
class Tally:
    """What the soak saw."""

    turns: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)
    lost: list[str] = field(default_factory=list)
    latencies: list[tuple[float, float]] = field(default_factory=list)  # (started, seconds)
    files_sent: int = 0
    files_recorded: int = 0
    ingest_seconds: list[float] = field(default_factory=list)


class Exhibit:
    """Posts activities to Exhibit and waits for what its connector receives."""

    def __init__(
        self, session: ClientSession, bot_url: str, connector: SoakConnector, service_url: str
    ) -> None:
        self.session = session
        self.bot_url = bot_url
        self.connector = connector
        self.service_url = service_url
        self.tenant = tenant_id()

    def activity(self, chat: Chat, text: str) -> dict[str, Any]:
        """A Teams message from `chat`'s officer in its conversation."""
        activity_id = f"soak-{uuid.uuid4().hex}"
        activity: dict[str, Any] = {
            "type": "message",
            "id": activity_id,
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime()),
            "channelId": "msteams",
            "serviceUrl": self.service_url,
            "from": chat.officer.account(),
            "recipient": {"id": BOT_ID, "name": "Exhibit"},
            "textFormat": "plain",
            "locale": "en-GB",
            "text": text,
            "channelData": {"tenant": {"id": self.tenant}},
        }
        if chat.channel is None:
            activity["conversation"] = {
                "conversationType": "personal",
                "tenantId": self.tenant,
                "id": chat.conversation,
            }
        else:
            activity["text"] = f"<at>Exhibit</at> {text}"
            activity["entities"] = [
                {
                    "type": "mention",
                    "mentioned": {"id": BOT_ID, "name": "Exhibit"},
                    "text": "<at>Exhibit</at>",
                }
            ]
            activity["conversation"] = {
                "isGroup": True,
                "conversationType": "channel",
                "tenantId": self.tenant,
                "id": f"{chat.channel};messageid={chat.conversation}",
            }
            activity["channelData"].update(
                teamsChannelId=chat.channel,
                teamsTeamId=TEAM_ID,
                channel={"id": chat.channel},
                team={"id": TEAM_ID},
            )
        return activity

    async def turn(
        self, tally: Tally, kind: str, activity: dict[str, Any], receipt: bool = False
    ) -> tuple[dict[str, Any] | None, asyncio.Future[bool] | None]:
        """Post one message; its answer (None when lost or refused at the door)."""
        activity_id = activity["id"]
        reply = self.connector.expect_reply(activity_id)
        finished = self.connector.expect_receipt(activity_id) if receipt else None
        started = time.monotonic()
        try:
            async with self.session.post(f"{self.bot_url}/api/messages", json=activity) as answer:
                status = answer.status
            if status not in (200, 202):
                tally.errors.append(f"{kind}: HTTP {status}")
                self.connector.forget(activity_id)
                return None, None
            body = await asyncio.wait_for(reply, REPLY_TIMEOUT)
        except TimeoutError:
            tally.lost.append(f"{kind}: no answer within {REPLY_TIMEOUT:.0f} s")
            self.connector.forget(activity_id)
            return None, None
        except OSError as err:
            tally.errors.append(f"{kind}: {type(err).__name__}")
            self.connector.forget(activity_id)
            return None, None
        tally.turns[kind] += 1
        tally.latencies.append((started, time.monotonic() - started))
        said = json.dumps(body)
        bad = BAD_ANSWERS.search(said)
        if bad is not None:
            tally.errors.append(f"{kind}: answered {bad.group(0)!r}")
        return body, finished


def file_attachment(name: str, url: str) -> dict[str, Any]:
    """A file sent in a Teams 1:1 chat: its pre-authenticated download URL."""
    return {
        "contentType": "application/vnd.microsoft.teams.file.download.info",
        "name": name,
        "content": {"downloadUrl": url, "uniqueId": name, "fileType": "bin"},
    }


class Soak:
    """The run: setup, the conversations, the ingests, the RSS sampler."""

    def __init__(self, args: argparse.Namespace, exhibit: Exhibit, source: str) -> None:
        self.args = args
        self.exhibit = exhibit
        self.source = source
        self.tally = Tally()
        self.people = officers()
        self.cases: list[Case] = []
        self.chats: list[Chat] = []
        self.random = random.Random(args.seed)
        self.ingests: list[asyncio.Task[None]] = []
        self.files = 0

    async def setup(self) -> None:
        """Open the cases in their channels, each with a first exhibit; make the chats."""
        for index in range(self.args.cases):
            opener = self.people[index % len(self.people)]
            channel = f"19:soak-case-{index}@thread.tacv2"
            case = Case(f"SOAK-26-{1001 + index}", channel, opener)
            opening = Chat(opener, f"open-{index}", channel)
            body, _ = await self.exhibit.turn(
                self.tally,
                "case open",
                self.exhibit.activity(opening, f"case open {case.reference} Soak case {index}"),
            )
            if body is None or "Case opened" not in json.dumps(body):
                raise RuntimeError(f"could not open {case.reference}: {body}")
            self.cases.append(case)
        for index in range(self.args.conversations):
            officer = self.people[index % len(self.people)]
            if index % 5 == 4:
                channel = self.cases[index % len(self.cases)].channel
                self.chats.append(Chat(officer, f"thread-{index}", channel))
            else:
                self.chats.append(Chat(officer, f"a:soak-chat-{index}", None))
        seeds = [
            self.ingest(Chat(case.opener, f"a:soak-seed-{n}", None), case, SEED_FILE_BYTES)
            for n, case in enumerate(self.cases)
        ]
        await asyncio.gather(*seeds)
        if self.tally.lost or self.tally.errors:
            raise RuntimeError(f"setup failed: {self.tally.errors + self.tally.lost}")

    def command(self, chat: Chat, serial: int) -> tuple[str, str]:
        """The next thing `chat` says: (kind, text)."""
        case = self.random.choice(self.cases)
        ref, exhibit = case.reference, case.first_exhibit
        choices = [
            (10, "help", "help"),
            (4, "whoami", "whoami"),
            (10, "case list", "case list"),
            (8, "case show", f"case show {ref}"),
            (16, "evidence list", f"evidence list {ref}"),
            (16, "evidence show", f"evidence show {ref} {exhibit}"),
            (4, "evidence verify", f"evidence verify {ref} {exhibit}"),
            (12, "custody", f"custody {ref} {exhibit}"),
            (6, "share list", f"share list {ref}"),
            (4, "share", f"share {ref} {exhibit} with {SHARE_TO} for 7d reason soak {serial}"),
        ]
        weights = [weight for weight, _, _ in choices]
        _, kind, text = self.random.choices(choices, weights)[0]
        return kind, text

    async def converse(self, chat: Chat, deadline: float) -> None:
        """One conversation: a message, its answer, a pause; until the deadline."""
        serial = 0
        await asyncio.sleep(self.random.uniform(0, 1.5))  # not all at once
        while time.monotonic() < deadline:
            serial += 1
            kind, text = self.command(chat, serial)
            await self.exhibit.turn(self.tally, kind, self.exhibit.activity(chat, text))
            await asyncio.sleep(self.random.uniform(0.5, 1.5))

    async def ingest(self, chat: Chat, case: Case, size: int) -> None:
        """Send one file with `add <case>`; wait until its receipt says it is recorded."""
        self.files += 1
        name = f"soak-{self.files}.bin"
        activity = self.exhibit.activity(chat, f"add {case.reference}")
        activity["attachments"] = [file_attachment(name, f"{self.source}/bytes/{size}")]
        started = time.monotonic()
        self.tally.files_sent += 1
        body, finished = await self.exhibit.turn(self.tally, "add file", activity, receipt=True)
        if body is None or finished is None:
            return
        try:
            recorded = await asyncio.wait_for(finished, self.args.ingest_timeout)
        except TimeoutError:
            self.exhibit.connector.forget(activity["id"])
            self.tally.lost.append(f"{name}: receipt not finished in {self.args.ingest_timeout} s")
            return
        if not recorded:
            self.tally.errors.append(f"{name}: could not be recorded")
            return
        self.tally.files_recorded += 1
        self.tally.ingest_seconds.append(time.monotonic() - started)

    async def ingest_now_and_then(self, deadline: float) -> None:
        """Start an ingest every `--ingest-every` seconds until the deadline."""
        personal = [chat for chat in self.chats if chat.channel is None]
        count = 0
        while time.monotonic() < deadline:
            chat = personal[count % len(personal)]
            case = self.random.choice(self.cases)
            self.ingests.append(
                asyncio.create_task(self.ingest(chat, case, self.args.file_mib * MIB))
            )
            count += 1
            await asyncio.sleep(min(self.args.ingest_every, max(0.0, deadline - time.monotonic())))

    async def run(self, deadline: float) -> None:
        """The conversations and the ingests, until the deadline; then wait for every file."""
        talk = [self.converse(chat, deadline) for chat in self.chats]
        await asyncio.gather(*talk, self.ingest_now_and_then(deadline))
        await asyncio.gather(*self.ingests)


class Sampler:
    """RSS and CPU of the stack's processes, read from /proc every few seconds."""

    def __init__(self, pids: dict[str, int], interval: float) -> None:
        self.pids = pids
        self.interval = interval
        self.samples: dict[str, list[tuple[float, float, float]]] = {name: [] for name in pids}
        self.load: list[float] = []
        self.load_times: list[float] = []

    def load_at(self, low: float, high: float) -> list[float]:
        """The load averages sampled between `low` and `high` seconds (at least the last one)."""
        found = [x for t, x in zip(self.load_times, self.load, strict=True) if low <= t <= high]
        return found or self.load[-1:]

    def sample(self, started: float) -> None:
        """One sample of every process: (seconds since start, RSS MiB, CPU seconds)."""
        now = time.monotonic() - started
        for name, pid in self.pids.items():
            try:
                rss, cpu = rss_mib(pid), cpu_seconds(pid)
            except (OSError, ValueError):
                continue  # exited; the run reports it
            self.samples[name].append((now, rss, cpu))
        self.load.append(os.getloadavg()[0])
        self.load_times.append(now)

    async def run(self, started: float, stop: asyncio.Event) -> None:
        """Sample until `stop` is set (and once more then)."""
        while not stop.is_set():
            self.sample(started)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval)
        self.sample(started)

    def report(self) -> dict[str, Any]:
        """Per process: RSS first/last minute, growth, slope; CPU."""
        result: dict[str, Any] = {}
        for name, samples in self.samples.items():
            if len(samples) < 2:
                continue
            end = samples[-1][0]
            window = min(60.0, end / 2)
            first = [rss for t, rss, _ in samples if t <= window]
            last = [rss for t, rss, _ in samples if t >= end - window]
            times = [t / 60 for t, _, _ in samples]
            slope = statistics.linear_regression(times, [rss for _, rss, _ in samples]).slope
            later = [(t / 60, rss) for t, rss, _ in samples if t > window]
            slope_later = (
                statistics.linear_regression([t for t, _ in later], [r for _, r in later]).slope
                if len(later) >= 2
                else None
            )
            cpu = samples[-1][2] - samples[0][2]
            result[name] = {
                "rss_first_min_mib": round(statistics.fmean(first), 1),
                "rss_last_min_mib": round(statistics.fmean(last), 1),
                "rss_growth_mib": round(statistics.fmean(last) - statistics.fmean(first), 1),
                "rss_max_mib": round(max(rss for _, rss, _ in samples), 1),
                "rss_slope_mib_per_min": round(slope, 2),
                "rss_slope_after_first_min_mib_per_min": (
                    None if slope_later is None else round(slope_later, 2)
                ),
                "cpu_seconds": round(cpu, 1),
                "cpu_percent_of_one_core": round(100 * cpu / max(end - samples[0][0], 1e-9), 1),
                "samples": len(samples),
            }
        return result


def rss_mib(pid: int) -> float:
    """VmRSS of a process, in MiB."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise ValueError(pid)


def cpu_seconds(pid: int) -> float:
    """User + system CPU of a process (not its children), in seconds."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def database_check(database: Path, files_sent: int) -> dict[str, Any]:
    """What the records say: intake jobs by status, and jobs completed without an exhibit."""
    with sqlite3.connect(database) as db:
        statuses = dict(db.execute("SELECT status, count(*) FROM intake_jobs GROUP BY status"))
        orphans = db.execute(
            "SELECT count(*) FROM intake_jobs j LEFT JOIN exhibits e ON e.id = j.exhibit_id "
            "WHERE j.status != 'completed' OR e.id IS NULL"
        ).fetchone()[0]
        exhibits = db.execute("SELECT count(*) FROM exhibits").fetchone()[0]
        custody = db.execute("SELECT count(*) FROM custody_entries").fetchone()[0]
        shares = db.execute("SELECT count(*) FROM shares").fetchone()[0]
    return {
        "jobs": statuses,
        "jobs_without_exhibit": orphans,
        "exhibits": exhibits,
        "files_sent": files_sent,
        "custody_entries": custody,
        "shares": shares,
    }


def log_lines(log_dir: Path, names: tuple[str, ...], kind: re.Pattern[str]) -> dict[str, Any]:
    """How many lines of each process's log match `kind`, and the first 5 of them."""
    found: dict[str, Any] = {}
    for name in names:
        path = log_dir / f"{name}.log"
        if not path.exists():
            continue
        lines = [
            line.strip()[:300]
            for line in path.read_text(encoding="utf-8", errors="replace").splitlines()
            if kind.search(line)
        ]
        if lines:
            found[name] = {"count": len(lines), "first": lines[:5]}
    return found


def percentile(values: list[float], fraction: float) -> float:
    """The `fraction` quantile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def turn_report(tally: Tally, started: float, ended: float) -> dict[str, Any]:
    """Turns, their latency overall and in the first and last minute of talking."""
    window = min(60.0, (ended - started) / 2)
    first = [s for t, s in tally.latencies if t - started <= window]
    last = [s for t, s in tally.latencies if t >= ended - window]
    seconds = [s for _, s in tally.latencies]
    report: dict[str, Any] = {
        "turns": sum(tally.turns.values()),
        "by_command": dict(tally.turns.most_common()),
        "turns_per_s": round(len(seconds) / max(ended - started, 1e-9), 1),
    }
    if seconds:
        report["latency_s"] = {
            "p50": round(statistics.median(seconds), 3),
            "p99": round(percentile(seconds, 0.99), 3),
            "first_min_p50": round(statistics.median(first), 3) if first else None,
            "last_min_p50": round(statistics.median(last), 3) if last else None,
            "first_min_turns": len(first),
            "last_min_turns": len(last),
        }
    if tally.ingest_seconds:
        report["ingest_s"] = {
            "median": round(statistics.median(tally.ingest_seconds), 1),
            "max": round(max(tally.ingest_seconds), 1),
        }
    return report


def per_minute(tally: Tally, sampler: Sampler, started: float, ended: float) -> list[Any]:
    """Per minute of talking: turns, median latency, the service's CPU and its CPU per turn
    (does a turn cost more as the records grow, or did the machine get busier?)."""
    service = sampler.samples.get("service", [])
    minutes = []
    for minute in range(max(1, round((ended - started) / 60))):
        low, high = started + 60 * minute, min(started + 60 * (minute + 1), ended)
        turns = [s for t, s in tally.latencies if low <= t < high]
        cpu = [c for t, _, c in service if low - started <= t <= high - started]
        used = cpu[-1] - cpu[0] if len(cpu) >= 2 else 0.0
        minutes.append(
            {
                "minute": minute + 1,
                "turns": len(turns),
                "p50_s": round(statistics.median(turns), 3) if turns else None,
                "service_cpu_s": round(used, 1),
                "service_cpu_ms_per_turn": round(1000 * used / len(turns), 1) if turns else None,
                "load_average": round(
                    statistics.fmean(sampler.load_at(low - started, high - started)), 2
                ),
            }
        )
    return minutes


async def drive(args: argparse.Namespace, stack: DevStack, source: str, pids: dict[str, int],
                connector: SoakConnector) -> dict[str, Any]:  # fmt: skip
    """Serve the connector, set up, soak while sampling, and tally."""
    runner = web.AppRunner(connector.app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", args.connector_port).start()
    service_url = f"http://127.0.0.1:{args.connector_port}"
    sampler = Sampler(pids, args.sample_seconds)
    stop = asyncio.Event()
    try:
        async with ClientSession(timeout=ClientTimeout(total=REPLY_TIMEOUT)) as session:
            exhibit = Exhibit(session, stack.bot_url, connector, service_url)
            soak = Soak(args, exhibit, source)
            print(f"setup: {args.cases} cases, each with a first exhibit", flush=True)
            began = time.monotonic()
            await soak.setup()
            print(f"setup done in {time.monotonic() - began:.1f} s", flush=True)
            setup_tally, soak.tally = soak.tally, Tally()
            soak.tally.files_sent = setup_tally.files_sent
            soak.tally.files_recorded = setup_tally.files_recorded
            print(
                f"soak: {args.conversations} conversations for {args.minutes} min, "
                f"a {args.file_mib} MiB file every {args.ingest_every} s",
                flush=True,
            )
            started = time.monotonic()
            sampling = asyncio.create_task(sampler.run(started, stop))
            await soak.run(started + args.minutes * 60)
            ended = time.monotonic()
            talked = min(ended, started + args.minutes * 60)
            stop.set()
            await sampling
    finally:
        await runner.cleanup()
    tally = soak.tally
    return {
        "turns": turn_report(tally, started, talked),
        "per_minute": per_minute(tally, sampler, started, talked),
        "files": {"sent": tally.files_sent, "recorded": tally.files_recorded},
        "errors": tally.errors,
        "lost": tally.lost,
        "connector": {
            "posts": connector.posts,
            "updates": connector.updates,
            "unmatched_replies": connector.unmatched_replies,
            "other_requests": connector.other_requests,
        },
        "processes": sampler.report(),
        "load_average": {
            "mean": round(statistics.fmean(sampler.load), 2),
            "max": round(max(sampler.load), 2),
        },
        "seconds": round(ended - started, 1),
    }


def parse(argv: list[str] | None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.soak",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--minutes", type=float, default=5.0, help="default 5")
    parser.add_argument("--conversations", type=int, default=50, help="default 50")
    parser.add_argument("--cases", type=int, default=10, help="default 10")
    parser.add_argument("--file-mib", type=int, default=100, help="file size (default 100)")
    parser.add_argument("--ingest-every", type=float, default=15.0, help="seconds (default 15)")
    parser.add_argument(
        "--ingest-timeout", type=float, default=300.0, help="seconds a file may take (300)"
    )
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--sample-seconds", type=float, default=2.0, help="default 2")
    parser.add_argument("--seed", type=int, default=15, help="random seed of the mix")
    parser.add_argument("--keep", type=Path, help="keep the data and logs in this directory")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    if args.conversations < 1 or args.cases < 1:
        parser.error("--conversations and --cases must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    """Start the stack, soak it, stop it, print the results."""
    args = parse(argv)
    with tempfile.TemporaryDirectory(prefix="exhibit-soak-") as tmp:
        data = (args.keep or Path(tmp)).resolve()
        args.connector_port = free_port()
        stack = DevStack(data_dir=data, ports=Ports.free())
        env = stack.bot_environment()
        env["EXHIBIT_RUN_WORKER"] = "false"
        env["EXHIBIT_LOG_LEVEL"] = "INFO"
        children = stack.children
        source_port = free_port()
        source = f"http://127.0.0.1:{source_port}"
        started_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        load_before = os.getloadavg()
        launched = time.monotonic()
        try:
            stack.data_dir.mkdir(parents=True, exist_ok=True)
            start_azurite_for(stack)
            children.spawn("source", [sys.executable, "-m", "bench.source", "--port",
                                      str(source_port)], {})  # fmt: skip
            children.wait_port("source", source_port)
            serve = [sys.executable, "-m", "exhibit", "--env-file", os.devnull]
            service = children.spawn("service", serve, env)
            children.wait_http("service", f"{stack.bot_url}/readyz")
            print(f"stack ready in {time.monotonic() - launched:.1f} s", flush=True)
            pids = {"service": service.pid}
            for number in range(1, args.workers + 1):
                worker = children.spawn(f"worker-{number}", [*serve, "worker"], env)
                pids[f"worker-{number}"] = worker.pid
            pids["azurite"] = children.pid("azurite")
            connector = SoakConnector([officer.account() for officer in officers()])
            results = asyncio.run(drive(args, stack, source, pids, connector))
            dead = children.dead()
            if dead is not None:
                results["errors"].append(f"the {dead} exited during the run")
        finally:
            children.stop()
        results["database"] = database_check(data / "exhibit.db", results["files"]["sent"])
        logged = tuple(name for name in pids if name != "azurite")
        results["log_errors"] = log_lines(children.log_dir, logged, ERROR_LINE)
        results["log_warnings"] = log_lines(children.log_dir, logged, WARNING_LINE)
    results["started_at"] = started_at
    results["load_average_before"] = [round(x, 2) for x in load_before]
    results["machine"] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    results["options"] = {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()}
    database = results["database"]
    errors = len(results["errors"]) + sum(
        found["count"] for found in results["log_errors"].values()
    )
    lost = len(results["lost"]) + database["jobs_without_exhibit"]
    lost += max(0, database["files_sent"] - sum(database["jobs"].values()))
    results["summary"] = {"errors": errors, "lost": lost}
    print(json.dumps(results, indent=2))
    print(summary_line(results))
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    return 0 if errors == 0 and lost == 0 else 1


def start_azurite_for(stack: DevStack) -> None:
    """Azurite on disk in the stack's data directory."""
    start_azurite(stack.children, stack.ports, stack.accounts, stack.data_dir / "azurite")


def summary_line(results: dict[str, Any]) -> str:
    """One line for people."""
    turns, rss = results["turns"], results["processes"]
    growth = ", ".join(
        f"{name} {p['rss_first_min_mib']:.0f}->{p['rss_last_min_mib']:.0f} MiB "
        f"({p['rss_slope_mib_per_min']:+.2f} MiB/min, CPU {p['cpu_percent_of_one_core']:.0f}%)"
        for name, p in rss.items()
    )
    return (
        f"soak: {turns['turns']} turns ({turns['turns_per_s']}/s), "
        f"{results['files']['recorded']}/{results['files']['sent']} files recorded, "
        f"errors {results['summary']['errors']}, lost {results['summary']['lost']}; {growth}"
    )


if __name__ == "__main__":
    sys.exit(main())
