"""The local stack: Azurite, the bot and the Agents Playground, started and stopped together.

`python -m devtools.devstack` is what README command 1 ends in; the end-to-end tests start the same
stack on free ports. Each child runs in its own process group, so stopping it stops whatever it
spawned: Ctrl-C leaves no process behind.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import logging
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import yaml

logger = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parent.parent
PLAYGROUND_CONFIG = ROOT / ".m365agentsplayground.yml"
REGIONS = ("uksouth", "ukwest")
START_TIMEOUT_SECONDS = 60.0


class StackError(Exception):
    """A part of the local stack could not start; the message says which and why."""


@dataclass(frozen=True, slots=True)
class Ports:
    """Where each part listens (all on 127.0.0.1)."""

    bot: int = 3978
    blob: int = 10000
    queue: int = 10001
    table: int = 10002
    playground: int = 56150

    @classmethod
    def free(cls) -> Ports:
        """Five different ports that are free right now (held open together while chosen)."""
        sockets = [socket.socket() for _ in range(5)]
        try:
            for sock in sockets:
                sock.bind(("127.0.0.1", 0))
            return cls(*(int(sock.getsockname()[1]) for sock in sockets))
        finally:
            for sock in sockets:
                sock.close()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_in_use(port: int) -> bool:
    """Whether something already listens on 127.0.0.1:`port`."""
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def tenant_id() -> str:
    """The mocked tenant of the Playground configuration."""
    config = yaml.safe_load(PLAYGROUND_CONFIG.read_text(encoding="utf-8"))
    return str(config["tenantId"])


@dataclass(frozen=True, slots=True)
class AzuriteAccount:
    """One emulated storage account, standing for one region."""

    region: str
    name: str
    key: str

    def connection_string(self, ports: Ports) -> str:
        """A connection string for the SDKs."""
        return (
            f"DefaultEndpointsProtocol=http;AccountName={self.name};AccountKey={self.key};"
            f"BlobEndpoint=http://127.0.0.1:{ports.blob}/{self.name};"
            f"QueueEndpoint=http://127.0.0.1:{ports.queue}/{self.name};"
        )


def make_accounts() -> tuple[AzuriteAccount, ...]:
    """One account per region, each with a fresh random key (keys live only for this run)."""
    return tuple(
        AzuriteAccount(
            region, f"exhibit{region}", base64.b64encode(secrets.token_bytes(32)).decode()
        )
        for region in REGIONS
    )


@dataclass
class DevStack:
    """Azurite + bot + Playground, for one developer or one test session."""

    data_dir: Path
    ports: Ports = field(default_factory=Ports)
    in_memory_storage: bool = False
    extra_bot_env: Mapping[str, str] = field(default_factory=dict)
    accounts: tuple[AzuriteAccount, ...] = field(default_factory=make_accounts)
    children: Children = field(init=False)

    def __post_init__(self) -> None:
        self.children = Children(self.data_dir / "logs")

    @property
    def playground_url(self) -> str:
        """The Teams-like UI to open in a browser."""
        return f"http://127.0.0.1:{self.ports.playground}/"

    @property
    def bot_url(self) -> str:
        """The bot's base URL."""
        return f"http://127.0.0.1:{self.ports.bot}"

    @property
    def log_dir(self) -> Path:
        """Where each child's output goes."""
        return self.children.log_dir

    def bot_environment(self) -> dict[str, str]:
        """The bot's settings for the local stack: anonymous, SQLite, local directory."""
        env = {
            "EXHIBIT_ENV": "development",
            "EXHIBIT_DANGEROUSLY_ALLOW_ANONYMOUS": "true",
            "EXHIBIT_ALLOWED_TENANTS": tenant_id(),
            "EXHIBIT_HOST": "127.0.0.1",
            "PORT": str(self.ports.bot),
            "EXHIBIT_DATABASE_URL": f"sqlite+aiosqlite:///{self.data_dir / 'exhibit.db'}",
            "EXHIBIT_CHECKPOINT_KEY_FILE": str(self.data_dir / "checkpoint-key.pem"),
            "EXHIBIT_REGIONS": ",".join(a.region for a in self.accounts),
            "EXHIBIT_DEFAULT_REGION": self.accounts[0].region,
            "EXHIBIT_QUEUE_CONNECTION_STRING": self.accounts[0].connection_string(self.ports),
            "EXHIBIT_DIRECTORY": "local",
            "EXHIBIT_LOCAL_DIRECTORY_FILE": str(ROOT / "dev" / "directory.yaml"),
            # Development only: files may also come from a server on this machine (demos, tests).
            "EXHIBIT_DOWNLOAD_HOSTS": "*.sharepoint.com,smba.trafficmanager.net,127.0.0.1",
            "EXHIBIT_SHARE_DOMAINS": "cps.gov.uk,justice.gov.uk,gov.uk",
            "EXHIBIT_PUBLIC_URL": self.bot_url,
        }
        for account in self.accounts:
            key = f"EXHIBIT_REGION_{account.region.upper()}_CONNECTION_STRING"
            env[key] = account.connection_string(self.ports)
        env.update(self.extra_bot_env)
        return env

    def start(self) -> None:
        """Start every part and wait until each answers; on any failure stop what started."""
        for name, port in (
            ("bot", self.ports.bot),
            ("Azurite blob", self.ports.blob),
            ("Azurite queue", self.ports.queue),
            ("Azurite table", self.ports.table),
            ("Playground", self.ports.playground),
        ):
            if port_in_use(port):
                raise StackError(f"port {port} for the {name} is already in use")
        self.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            location = None if self.in_memory_storage else self.data_dir / "azurite"
            start_azurite(self.children, self.ports, self.accounts, location)
            self._start_bot()
            self.children.wait_http("bot", f"{self.bot_url}/readyz")
            self._start_playground()
            self.children.wait_http("Playground", f"{self.playground_url}_debug/ping")
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        """Stop every part."""
        self.children.stop()

    def dead_child(self) -> str | None:
        """The name of a part that has exited, if any."""
        return self.children.dead()

    def _start_bot(self) -> None:
        args = [sys.executable, "-m", "exhibit", "--env-file", os.devnull]  # stack's settings only
        self.children.spawn("bot", args, self.bot_environment())

    def _start_playground(self) -> None:
        workdir = self.data_dir / "playground"
        workdir.mkdir(exist_ok=True)
        shutil.copyfile(PLAYGROUND_CONFIG, workdir / PLAYGROUND_CONFIG.name)
        args = [
            str(ROOT / "node_modules" / ".bin" / "agentsplayground"),
            "-e", f"{self.bot_url}/api/messages",
            "-c", "msteams",
            "-p", str(self.ports.playground),
            "--disable-telemetry",
        ]  # fmt: skip
        self.children.spawn("playground", args, {"TEAMSAPPTESTER_BROWSER": "none"}, cwd=workdir)


def start_azurite(
    children: Children,
    ports: Ports,
    accounts: tuple[AzuriteAccount, ...],
    location: Path | None,
) -> None:
    """Start Azurite (blob, queue, table) with `accounts`; on disk at `location` or in memory."""
    args = [
        str(ROOT / "node_modules" / ".bin" / "azurite"),
        "--silent",
        "--skipApiVersionCheck",
        "--disableTelemetry",
        "--blobHost", "127.0.0.1", "--blobPort", str(ports.blob),
        "--queueHost", "127.0.0.1", "--queuePort", str(ports.queue),
        "--tableHost", "127.0.0.1", "--tablePort", str(ports.table),
    ]  # fmt: skip
    if location is None:
        args += ["--inMemoryPersistence", "--extentMemoryLimit", "512"]
    else:
        location.mkdir(parents=True, exist_ok=True)
        args += ["--location", str(location)]
    names = ";".join(f"{a.name}:{a.key}" for a in accounts)
    children.spawn("azurite", args, {"AZURITE_ACCOUNTS": names})
    children.wait_port("Azurite blob", ports.blob)
    children.wait_port("Azurite queue", ports.queue)


class Children:
    """Child processes, each in its own process group, with output in `log_dir`."""

    def __init__(self, log_dir: Path) -> None:
        self.log_dir = log_dir
        self._running: list[tuple[str, subprocess.Popen[bytes]]] = []
        self._logs: list[IO[bytes]] = []

    def spawn(
        self, name: str, args: list[str], env: Mapping[str, str], cwd: Path | None = None
    ) -> subprocess.Popen[bytes]:
        """Start `args` as `name`, its output appended to `<log_dir>/<name>.log`."""
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = (self.log_dir / f"{name}.log").open("ab")
        self._logs.append(log)
        process = subprocess.Popen(  # noqa: S603 (fixed programs, arguments from this module)
            args,
            cwd=cwd or ROOT,
            env={**os.environ, **env},
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() reaches its children too
        )
        self._running.append((name, process))
        return process

    def wait_port(self, name: str, port: int) -> None:
        """Wait until something listens on `port`."""
        self._wait(name, lambda: port_in_use(port))

    def wait_http(self, name: str, url: str) -> None:
        """Wait until `url` answers 200."""

        def answers() -> bool:
            try:
                with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback)
                    return int(response.status) == 200
            except (urllib.error.URLError, OSError):
                return False

        self._wait(name, answers)

    def _wait(self, name: str, ready: Callable[[], bool]) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            if ready():
                return
            dead = self.dead()
            if dead is not None:
                raise StackError(
                    f"the {dead} exited while starting; see {self.log_dir / (dead + '.log')}"
                )
            time.sleep(0.1)
        raise StackError(f"the {name} did not answer within {START_TIMEOUT_SECONDS:.0f} s")

    def pid(self, name: str) -> int:
        """The process id of the running child `name`."""
        return next(process.pid for child, process in self._running if child == name)

    def dead(self) -> str | None:
        """The name of a child that has exited, if any."""
        return next((name for name, p in self._running if p.poll() is not None), None)

    def stop(self) -> None:
        """Stop every child (whole process groups): TERM, then KILL after 10 s."""
        for _name, process in reversed(self._running):
            _signal_group(process, signal.SIGTERM)
        deadline = time.monotonic() + 10
        for _name, process in reversed(self._running):
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            _signal_group(process, signal.SIGKILL)
            process.wait()
        self._running.clear()
        for log in self._logs:
            log.close()
        self._logs.clear()


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)


def main(argv: list[str] | None = None) -> int:
    """Run the local stack in the foreground until Ctrl-C."""
    parser = argparse.ArgumentParser(
        prog="python -m devtools.devstack",
        description="Run Exhibit locally: Azurite (two regions), the bot, and the Agents "
        "Playground as the Teams client. Ctrl-C stops everything.",
    )
    parser.add_argument("--data-dir", type=Path, default=ROOT / "var", help="default: var/")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    stack = DevStack(data_dir=args.data_dir.resolve())

    def interrupted(_signum: int, _frame: object) -> None:
        raise KeyboardInterrupt

    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, interrupted)
    try:
        stack.start()
        print(
            f"\nExhibit is running.\n"
            f"  Teams (Agents Playground): {stack.playground_url}\n"
            f"  Bot:                       {stack.bot_url}/healthz, {stack.bot_url}/readyz\n"
            f"  Logs:                      {stack.log_dir}\n"
            f"Open the Playground URL in a browser and type 'help'. Ctrl-C stops everything.\n",
            flush=True,
        )
        while (dead := stack.dead_child()) is None:
            time.sleep(0.5)
        print(f"The {dead} stopped; see {stack.log_dir / (dead + '.log')}", file=sys.stderr)
        return 1
    except StackError as err:
        print(f"Exhibit could not start: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\nStopping Exhibit...", flush=True)
        return 0
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
