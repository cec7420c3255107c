"""A private Docker daemon and an offline base image, for the container image's smoke test.

No image registry can be reached here, so the base image is made from Debian's own packages
(`debootstrap --variant=minbase --include=python3,python3-venv bookworm`, the Debian of
`python:3.11-slim-bookworm`) and `docker import`ed. The root filesystem's tarball is cached in
`var/cache/image/`, keyed by suite, packages and date, so local re-runs skip debootstrap.

The daemon is this test's own: data and exec roots in a temporary directory, its own socket,
no bridge network and no iptables rules (containers use the host's network, on loopback), so
that it neither needs nor disturbs any other Docker on the machine. It is stopped on exit.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
CACHE = ROOT / "var" / "cache" / "image"
SUITE = "bookworm"
PACKAGES = ("python3", "python3-venv")
DOCKER = "/usr/bin/docker"  # Debian's client, matching its daemon


class ImageToolsMissing(RuntimeError):
    """Docker or debootstrap cannot run here."""


@dataclass
class Timings:
    """Seconds taken by each phase, in order."""

    phases: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """Time the block as `name`."""
        started = time.monotonic()
        try:
            yield
        finally:
            self.phases[name] = time.monotonic() - started

    def report(self) -> str:
        """One line per phase and the total."""
        lines = [f"  {name:<22} {seconds:7.1f} s" for name, seconds in self.phases.items()]
        lines.append(f"  {'total':<22} {sum(self.phases.values()):7.1f} s")
        return "\n".join(lines)


@dataclass
class DockerHost:
    """A running private daemon and how to talk to it."""

    socket: Path
    log: Path
    start_seconds: float = 0.0

    def env(self) -> dict[str, str]:
        """Environment for the client: this daemon, the classic builder (no frontend to pull)."""
        return {**os.environ, "DOCKER_HOST": f"unix://{self.socket}", "DOCKER_BUILDKIT": "0"}

    def run(
        self, *args: str, stdin: Path | None = None, check: bool = True, timeout: float = 600
    ) -> subprocess.CompletedProcess[str]:
        """`docker ARGS`; raises with the output when it fails and `check` is on."""
        with stdin.open("rb") if stdin else open(os.devnull, "rb") as source:
            result = subprocess.run(  # noqa: S603 (Debian's docker, arguments from the tests)
                [DOCKER, *args],
                env=self.env(),
                stdin=source,
                capture_output=True,
                timeout=timeout,
                check=False,
            )
        done = subprocess.CompletedProcess(
            result.args,
            result.returncode,
            result.stdout.decode(errors="replace"),
            result.stderr.decode(errors="replace"),
        )
        if check and done.returncode != 0:
            raise AssertionError(
                f"docker {' '.join(args[:3])} failed ({done.returncode}):\n"
                f"{done.stdout[-4000:]}\n{done.stderr[-4000:]}\ndaemon log: {self.log}"
            )
        return done


def check_tools() -> None:
    """Fail, saying what to do, when the smoke test cannot run here."""
    missing = [tool for tool in ("dockerd", "debootstrap") if shutil.which(tool) is None]
    if not Path(DOCKER).exists():
        missing.append(DOCKER)
    if missing:
        raise ImageToolsMissing(
            f"the container image test needs {', '.join(missing)}: run scripts/test (it installs "
            "Debian's docker.io and debootstrap), or set EXHIBIT_SKIP_IMAGE=1 to skip it locally"
        )
    if os.geteuid() != 0:
        raise ImageToolsMissing(
            "the container image test starts its own Docker daemon and debootstraps a base, "
            "which needs root; run the tests as root, or set EXHIBIT_SKIP_IMAGE=1 locally"
        )


@contextmanager
def docker_host(log_dir: Path) -> Iterator[DockerHost]:
    """A private daemon for the duration of the block; stopped and removed after it."""
    # A short path: containerd's sockets live under the exec root (108-byte socket paths).
    home = Path(tempfile.mkdtemp(prefix="exd-", dir="/tmp"))
    log_dir.mkdir(parents=True, exist_ok=True)
    log = log_dir / "dockerd.log"
    host = DockerHost(home / "docker.sock", log)
    with log.open("ab") as out:
        daemon = subprocess.Popen(  # noqa: S603 (Debian's dockerd, fixed arguments)
            [
                shutil.which("dockerd") or "/usr/sbin/dockerd",
                f"--data-root={home / 'data'}",
                f"--exec-root={home / 'exec'}",
                f"--pidfile={home / 'docker.pid'}",
                f"--host=unix://{host.socket}",
                "--bridge=none",
                "--iptables=false",
                "--ip-masq=false",
                "--log-level=warn",
            ],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        started = time.monotonic()
        deadline = started + 60
        while host.run("version", check=False, timeout=10).returncode != 0:
            if daemon.poll() is not None or time.monotonic() > deadline:
                raise ImageToolsMissing(
                    f"dockerd did not start (exit {daemon.poll()}); see {log}:\n"
                    + log.read_text(errors="replace")[-3000:]
                )
            time.sleep(0.2)
        host.start_seconds = time.monotonic() - started
        yield host
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        _unmount_under(home)  # dockerd leaves its network namespace's bind mount behind
        shutil.rmtree(home, ignore_errors=True)


def _unmount_under(home: Path) -> None:
    mounts = Path("/proc/mounts").read_text(encoding="utf-8").splitlines()
    points = [line.split()[1] for line in mounts if line.split()[1].startswith(f"{home}/")]
    umount = shutil.which("umount") or "umount"
    for point in sorted(points, reverse=True):
        subprocess.run([umount, "--lazy", point], capture_output=True, check=False)  # noqa: S603


def base_rootfs(today: dt.date) -> Path:
    """The debootstrapped root filesystem as a tarball, from the cache when it has today's."""
    key = f"{SUITE}-minbase-{'-'.join(PACKAGES)}-{today:%Y%m%d}.tar"
    tarball = CACHE / key
    if tarball.exists():
        return tarball
    CACHE.mkdir(parents=True, exist_ok=True)
    for stale in CACHE.glob(f"{SUITE}-minbase-*.tar"):
        stale.unlink()
    with tempfile.TemporaryDirectory(prefix="rootfs-", dir=CACHE) as work:
        rootfs = Path(work) / "rootfs"
        debootstrap = shutil.which("debootstrap") or "debootstrap"
        _quiet([debootstrap, "--variant=minbase", f"--include={','.join(PACKAGES)}",
                SUITE, str(rootfs)])  # fmt: skip
        partial = Path(work) / key
        _quiet(
            [
                shutil.which("tar") or "tar",
                "-C",
                str(rootfs),
                "--numeric-owner",
                "-cf",
                str(partial),
                ".",
            ]
        )
        partial.rename(tarball)
    return tarball


def download_wheels(lock: Path, into: Path) -> None:
    """Every wheel `lock` pins, hash-checked, into `into` (kept between runs)."""
    into.mkdir(parents=True, exist_ok=True)
    _quiet([
        sys.executable, "-m", "pip", "download", "--quiet",
        "--disable-pip-version-check", "--only-binary=:all:", "--no-deps",
        "--require-hashes", "-r", str(lock), "-d", str(into),
    ])  # fmt: skip


def _quiet(args: Sequence[str]) -> None:
    result = subprocess.run(args, capture_output=True, text=True, check=False)  # noqa: S603
    if result.returncode != 0:
        raise AssertionError(
            f"{args[0]} failed ({result.returncode}):\n{result.stdout[-3000:]}\n"
            f"{result.stderr[-3000:]}"
        )
