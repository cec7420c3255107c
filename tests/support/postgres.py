"""A throwaway PostgreSQL server for the test session, and a fresh database per test.

`postgres_server` starts Debian's PostgreSQL from a temporary folder on a free port (as the
`postgres` user when run as root: initdb and pg_ctl refuse root) and stops it at session end.
With `TEST_DATABASE_URL` set it uses that server instead (its user needs CREATEDB). Missing
binaries fail the PostgreSQL tests with a message, or skip them when `EXHIBIT_SKIP_POSTGRES=1`.

`postgres_database` creates a database for one test and drops it afterwards;
`PostgresServer.create_database` makes longer-lived ones (a session's migrated database).

Register the fixtures with `pytest_plugins = ["tests.support.postgres"]`.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from devtools.devstack import free_port

SKIP_ENV = "EXHIBIT_SKIP_POSTGRES"
URL_ENV = "TEST_DATABASE_URL"
DEBIAN_BINDIRS = "/usr/lib/postgresql/*/bin"
START_TIMEOUT_SECONDS = 30
# Durability off: a test server's data is thrown away. A short deadlock timeout keeps the
# tests that provoke deadlocks quick.
SERVER_SETTINGS = (
    "-c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off "
    "-c full_page_writes=off -c deadlock_timeout=100ms"
)


@dataclass(frozen=True, slots=True)
class PostgresServer:
    """A server the tests may create databases on."""

    admin_url: str  # postgresql+asyncpg URL of a database to connect to for CREATE DATABASE

    def database_url(self, name: str) -> str:
        """The URL of database `name` on this server."""
        return make_url(self.admin_url).set(database=name).render_as_string(hide_password=False)

    async def create_database(self, prefix: str = "exhibit_test") -> str:
        """Create an empty database with a unique name; return its URL."""
        name = f"{prefix}_{uuid.uuid4().hex[:12]}"
        await self._admin(f'CREATE DATABASE "{name}"')
        return self.database_url(name)

    async def drop_database(self, url: str) -> None:
        """Drop the database of `url`, disconnecting whoever is still connected."""
        await self._admin(f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')

    async def _admin(self, statement: str) -> None:
        admin = create_async_engine(
            self.admin_url, isolation_level="AUTOCOMMIT", poolclass=NullPool
        )
        try:
            async with admin.connect() as connection:
                await connection.execute(text(statement))
        finally:
            await admin.dispose()


def asyncpg_url(url: str) -> str:
    """`url` with the asyncpg driver, whatever driver it named."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        raise ValueError(f"{URL_ENV} must be a PostgreSQL URL, not {parsed.drivername}")
    return parsed.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)


def find_bindir() -> Path | None:
    """The folder holding initdb and pg_ctl: on PATH, or Debian's newest version."""
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(on_path).parent
    candidates = [
        path for path in Path("/").glob(DEBIAN_BINDIRS.lstrip("/")) if (path / "initdb").exists()
    ]
    if not candidates:
        return None
    return max(candidates, key=lambda path: int(path.parent.name.split(".")[0]))


class LocalPostgres:
    """initdb + pg_ctl in a temporary folder; `stop` removes everything."""

    def __init__(self, bindir: Path, *, password_roles: tuple[str, ...] = ()) -> None:
        """`password_roles` must log in over TCP with a password (SCRAM); everyone else is
        trusted, as a throwaway test server may."""
        self.bindir = bindir
        self.password_roles = password_roles
        self.base = Path(tempfile.mkdtemp(prefix="exhibit-pg-"))
        self.data = self.base / "data"
        self.log = self.base / "server.log"
        self.port = free_port()
        self._as_postgres: list[str] = []
        if os.geteuid() == 0:
            # pytest's own tmp root is 0700 and root-owned: the server gets its own folder.
            try:
                account = pwd.getpwnam("postgres")
            except KeyError:
                pytest.fail("running as root but there is no `postgres` user", pytrace=False)
            os.chown(self.base, account.pw_uid, account.pw_gid)
            self._as_postgres = ["runuser", "-u", "postgres", "--"]

    @property
    def url(self) -> str:
        """URL of the `postgres` maintenance database, over TCP."""
        return f"postgresql+asyncpg://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        """Create the cluster and start the server; wait until it accepts connections."""
        self._run(
            "initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync",
            "-E", "UTF8", "--locale=C",
        )  # fmt: skip
        if self.password_roles:
            hba = self.data / "pg_hba.conf"
            checked = "".join(
                f"host all {role} 127.0.0.1/32 scram-sha-256\n" for role in self.password_roles
            )
            stat = hba.stat()
            hba.write_text(checked + hba.read_text())
            os.chown(hba, stat.st_uid, stat.st_gid)
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.log), "-w",
            "-t", str(START_TIMEOUT_SECONDS),
            "-o", f"-p {self.port} -k {self.base} {SERVER_SETTINGS}", "start",
        )  # fmt: skip

    def stop(self) -> None:
        """Stop the server (fast shutdown) and remove its folder."""
        try:
            if (self.data / "postmaster.pid").exists():
                self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.base, ignore_errors=True)

    def _run(self, program: str, *args: str) -> None:
        command = [*self._as_postgres, str(self.bindir / program), *args]
        done = subprocess.run(  # noqa: S603 (fixed programs, arguments from this module)
            command, capture_output=True, text=True, check=False, timeout=60
        )
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-2000:] if self.log.exists() else ""
            pytest.fail(
                f"{program} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}\n{log}",
                pytrace=False,
            )


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    """`TEST_DATABASE_URL`'s server, or a local throwaway one for the whole session."""
    given = os.environ.get(URL_ENV)
    if given:
        yield PostgresServer(asyncpg_url(given))
        return
    bindir = find_bindir()
    if bindir is None:
        reason = (
            "PostgreSQL binaries (initdb, pg_ctl) not found: install them "
            f"(scripts/bootstrap --test) or set {URL_ENV}"
        )
        if os.environ.get(SKIP_ENV) == "1":
            pytest.skip(f"{reason}; skipped because {SKIP_ENV}=1")
        pytest.fail(f"{reason}, or set {SKIP_ENV}=1 to skip these tests", pytrace=False)
    server = LocalPostgres(bindir)
    try:
        server.start()
        yield PostgresServer(server.url)
    finally:
        server.stop()


@pytest.fixture
async def postgres_database(postgres_server: PostgresServer) -> AsyncIterator[str]:
    """The URL of a new, empty database, dropped after the test."""
    url = await postgres_server.create_database()
    try:
        yield url
    finally:
        await postgres_server.drop_database(url)
