"""The container image, built offline and run: ready, answers a turn, not root, stops cleanly.

The image is built exactly as the Dockerfile says, with `--network none`, on a base made from
Debian's own packages (no registry can be reached; see tests/support/docker_host.py), and run
with the flags the README gives: `--init --read-only --tmpfs /tmp`, a data volume, SQLite in
it, Azurite and a recording Bot Framework connector on the host's loopback. Each phase is
timed; the timings are printed and written to artifacts/image/timings.txt.

`EXHIBIT_SKIP_IMAGE=1` skips this module on a developer machine without root; anywhere else a
machine that cannot run Docker fails it, saying why.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import pytest

from devtools.devstack import free_port
from tests.conftest import TENANT, Azurite
from tests.support.activities import load_activity
from tests.support.card_text import text_blocks
from tests.support.connector import RecordingConnector
from tests.support.docker_host import (
    ROOT,
    DockerHost,
    Timings,
    base_rootfs,
    check_tools,
    docker_host,
    download_wheels,
)

if os.environ.get("EXHIBIT_SKIP_IMAGE") == "1":
    pytest.skip("EXHIBIT_SKIP_IMAGE=1: container image not tested", allow_module_level=True)

ARTIFACTS = ROOT / "artifacts" / "image"
IMAGE = "exhibit:smoke"
CONTAINER = "exhibit-smoke"
STOP_GRACE_SECONDS = 20
UID = "10001"


@dataclass
class Built:
    """The private daemon with the image built in it."""

    docker: DockerHost
    timings: Timings


@pytest.fixture(scope="module")
def built() -> Iterator[Built]:
    """Daemon up, base imported, wheels fetched, image built with no network."""
    check_tools()
    timings = Timings()
    with docker_host(ARTIFACTS) as docker:
        timings.phases["dockerd start"] = docker.start_seconds
        with timings.phase("debootstrap (or cache)"):
            tarball = base_rootfs(dt.datetime.now(dt.UTC).date())
        base = "exhibit-base:bookworm"
        with timings.phase("docker import"):
            docker.run("import", "-", base, stdin=tarball)
        with timings.phase("wheels"):
            download_wheels(ROOT / "requirements-runtime.lock", ROOT / "dist" / "wheels")
        with timings.phase("docker build"):
            docker.run(
                "build", "--network", "none", "--build-arg", f"BASE_IMAGE={base}",
                "--tag", IMAGE, str(ROOT),
            )  # fmt: skip
        yield Built(docker, timings)


async def test_the_image_serves_answers_help_runs_unprivileged_and_stops_cleanly(
    built: Built,
    azurite: Azurite,
    connector: tuple[RecordingConnector, str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    docker, timings = built.docker, built.timings
    recorder, connector_url = connector
    port = free_port()
    # The container shares the host's network and listens on loopback only: nothing is
    # published beyond 127.0.0.1 (the daemon has no bridge, so it disturbs no other Docker).
    env_file = tmp_path / "exhibit.env"
    env_file.write_text(
        "\n".join([
            "EXHIBIT_HOST=127.0.0.1",
            f"PORT={port}",
            "EXHIBIT_DANGEROUSLY_ALLOW_ANONYMOUS=true",
            f"EXHIBIT_ALLOWED_TENANTS={TENANT}",
            "EXHIBIT_REGIONS=uksouth,ukwest",
            f"EXHIBIT_REGION_UKSOUTH_CONNECTION_STRING={azurite.connection_string('uksouth')}",
            f"EXHIBIT_REGION_UKWEST_CONNECTION_STRING={azurite.connection_string('ukwest')}",
            f"EXHIBIT_QUEUE_NAME=intake-{uuid.uuid4().hex[:12]}",
            "EXHIBIT_LOCAL_DIRECTORY_FILE=/config/directory.yaml",
        ]) + "\n",
        encoding="utf-8",
    )  # fmt: skip
    volume = f"exhibit-smoke-{uuid.uuid4().hex[:8]}"
    run = [
        "run", "--init", "--read-only", "--tmpfs", "/tmp",  # noqa: S108 (the container's tmpfs)
        "--network", "host",
        "--env-file", str(env_file), "--volume", f"{volume}:/data",
        "--volume", f"{ROOT / 'dev' / 'directory.yaml'}:/config/directory.yaml:ro",
    ]  # fmt: skip

    with timings.phase("migrate"):
        migrated = await asyncio.to_thread(
            docker.run, *run, "--rm", "--no-healthcheck", IMAGE, "migrate"
        )
    assert "Database schema at revision" in migrated.stdout, migrated.stdout + migrated.stderr

    with timings.phase("run to ready"):
        await asyncio.to_thread(docker.run, *run, "--detach", "--name", CONTAINER, IMAGE)
        base_url = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as http:
            await _until_ready(http, f"{base_url}/readyz", docker)
    try:
        async with aiohttp.ClientSession() as http:
            activity = load_activity("personal_message", connector_url)
            async with http.post(f"{base_url}/api/messages", json=activity) as response:
                assert response.status in {200, 201, 202}, await response.text()
        (reply,) = await recorder.wait_for(1)
        card = reply["attachments"][0]["content"]
        blocks = text_blocks(card)
        assert blocks[0] == "Exhibit commands", blocks  # the help card, grouped
        assert {"Cases", "Evidence", "Sharing", "Custody"} <= set(blocks), blocks
        assert reply["conversation"]["id"] == activity["conversation"]["id"]

        uid = await asyncio.to_thread(docker.run, "exec", CONTAINER, "id", "-u")
        assert uid.stdout.strip() == UID
        health = await asyncio.to_thread(
            docker.run, "exec", CONTAINER, "python3", "-m", "exhibit.healthcheck", check=False
        )
        assert health.returncode == 0, health.stderr
        # The root filesystem is read-only; the data volume is the service's to write.
        denied = await asyncio.to_thread(
            docker.run, "exec", CONTAINER, "touch", "/opt/exhibit/x", check=False
        )
        assert denied.returncode != 0
        assert (
            "exhibit.db"
            in (await asyncio.to_thread(docker.run, "exec", CONTAINER, "ls", "/data")).stdout
        )
    finally:
        with timings.phase("stop (SIGTERM)"):
            await asyncio.to_thread(
                docker.run, "stop", "--time", str(STOP_GRACE_SECONDS), CONTAINER
            )
        state = await asyncio.to_thread(
            docker.run, "inspect", "--format", "{{.State.ExitCode}} {{.State.OOMKilled}}",
            CONTAINER,
        )  # fmt: skip
        logs = await asyncio.to_thread(docker.run, "logs", CONTAINER)
        output = logs.stdout + logs.stderr
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "container.log").write_text(output, encoding="utf-8")
        size = await asyncio.to_thread(
            docker.run, "image", "inspect", "--format", "{{.Size}}", IMAGE
        )
        report = (
            "Container image smoke test timings:\n" + timings.report()
            + f"\n  image size {int(size.stdout) / 1e6:.0f} MB"
        )  # fmt: skip
        (ARTIFACTS / "timings.txt").write_text(report + "\n", encoding="utf-8")
        with capsys.disabled():
            print("\n" + report)
    # Exit code 0 (not 137: killed at the end of the grace period, nor 143: SIGTERM unhandled),
    # and the in-process worker drained before the process ended.
    assert state.stdout.split() == ["0", "false"], output[-3000:]
    assert "Ingest worker drained" in output, output[-3000:]
    assert " ERROR " not in output, output[-3000:]


async def _until_ready(http: aiohttp.ClientSession, url: str, docker: DockerHost) -> None:
    """Poll `/readyz` until 200 (two minutes at most, or until the container has exited)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 120
    last = "no answer"
    while loop.time() < deadline:
        try:
            async with http.get(url, timeout=aiohttp.ClientTimeout(total=5)) as response:
                if response.status == 200:
                    return
                last = f"{response.status} {await response.text()}"
        except aiohttp.ClientError as err:
            last = type(err).__name__
        running = await asyncio.to_thread(
            docker.run, "inspect", "--format", "{{.State.Running}}", CONTAINER
        )
        if running.stdout.strip() != "true":
            break
        await asyncio.sleep(0.5)
    logs = await asyncio.to_thread(docker.run, "logs", CONTAINER, check=False)
    raise AssertionError(f"/readyz never answered 200 ({last}):\n{logs.stdout}{logs.stderr}")
