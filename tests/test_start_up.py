"""What start-up loads and checks: heavy SDKs only when used, Alembic only when there is work."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from exhibit import composition
from exhibit.settings import Settings
from storage.database import create_engine
from storage.migrate import head_revision, migrate
from storage.schema_version import schema_is_current, script_head
from tests.conftest import BotClientFactory
from tests.support.waiting import until

pytest_plugins = ["tests.support.postgres", "tests.support.record_backends"]

ROOT = Path(__file__).resolve().parents[1]
# Needed only by a Graph directory, an Entra identity, a Key Vault key, a continuity export, a
# migration or PostgreSQL; the Queue SDK, the card models and Jinja2 load on first use, and in
# the background once the service is ready.
DEFERRED = (
    "alembic",
    "msgraph",
    "httpx",
    "azure.identity",
    "azure.keyvault",
    "azure.storage.queue",
    "jinja2",
    "microsoft_teams.cards",
    "fpdf",
    "fontTools",
    "PIL",
    "mako",
    "sqlalchemy.dialects.postgresql",
)


def test_the_service_module_loads_without_what_it_may_not_need() -> None:
    probe = (
        "import sys, exhibit.composition\n"
        f"print(' '.join(m for m in {DEFERRED!r} if m in sys.modules))"
    )
    loaded = subprocess.run(  # noqa: S603 (this interpreter, a fixed script)
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert loaded == []


def test_the_card_models_load_on_first_use() -> None:
    probe = (
        "import sys\n"
        "from cards.officer import build_whoami_card\n"
        "from evidence.officers import Officer\n"
        "before = 'microsoft_teams.cards' in sys.modules\n"
        "card = build_whoami_card(Officer(object_id='o', display_name='A B'), 'local')\n"
        "print(before, 'microsoft_teams.cards' in sys.modules, type(card).__name__)"
    )
    printed = subprocess.run(  # noqa: S603 (this interpreter, a fixed script)
        [sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    assert printed == ["False", "True", "AdaptiveCard"]


WARM_UP_PROBE = "tests.support.warm_up_probe"


async def _probe_loaded() -> bool | None:
    return True if WARM_UP_PROBE in sys.modules else None


async def test_what_waits_for_first_use_is_loaded_once_the_service_is_ready(
    settings: Settings, bot_client: BotClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    sys.modules.pop(WARM_UP_PROBE, None)
    monkeypatch.setattr(composition, "ON_FIRST_USE", (WARM_UP_PROBE,))
    client = await bot_client(settings, probe_ready=False)
    await asyncio.sleep(0.3)
    assert WARM_UP_PROBE not in sys.modules  # not before the service is ready
    assert (await client.get("/readyz")).status == 200
    await until("the warm-up import", _probe_loaded, 10, lambda: "see exhibit.composition._warm_up")


async def test_without_a_readiness_probe_warm_up_comes_after_a_while(
    settings: Settings, bot_client: BotClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    sys.modules.pop(WARM_UP_PROBE, None)
    monkeypatch.setattr(composition, "ON_FIRST_USE", (WARM_UP_PROBE,))
    monkeypatch.setattr(composition, "UNPROBED_START_SECONDS", 0.2)
    await bot_client(settings, probe_ready=False)
    await until("the warm-up import", _probe_loaded, 10, lambda: "see exhibit.composition._warm_up")


def test_the_scripts_head_is_alembics() -> None:
    assert script_head() == head_revision()


def test_a_script_this_reading_does_not_understand_means_ask_alembic(tmp_path: Path) -> None:
    (tmp_path / "0001_a.py").write_text('revision = "0001"\ndown_revision = None\n')
    (tmp_path / "0002_b.py").write_text('revision = "0002"\ndown_revision = ("0001", "x")\n')
    assert script_head(tmp_path) is None
    (tmp_path / "0002_b.py").write_text('revision = "0002"\ndown_revision = "0001"\n')
    assert script_head(tmp_path) == "0002"
    (tmp_path / "0003_c.py").write_text('revision = "0003"\ndown_revision = "0001"\n')
    assert script_head(tmp_path) is None  # two heads


async def test_only_a_database_at_the_head_is_current(engine: AsyncEngine) -> None:
    await migrate(engine)
    assert await schema_is_current(engine)
    head = head_revision()
    async with engine.begin() as connection:
        await connection.execute(text("UPDATE alembic_version SET version_num = '0004'"))
    try:
        assert not await schema_is_current(engine)
    finally:
        async with engine.begin() as connection:
            await connection.execute(
                text("UPDATE alembic_version SET version_num = :head"), {"head": head}
            )


async def test_a_new_database_is_not_current(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'new.db'}")
    try:
        assert not await schema_is_current(engine)  # no version table yet
    finally:
        await engine.dispose()


async def test_a_service_stopped_before_it_was_ready_does_not_wait_to_start_its_work(
    settings: Settings, bot_client: BotClientFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(composition, "UNPROBED_START_SECONDS", 3600.0)
    client = await bot_client(settings, probe_ready=False)
    async with asyncio.timeout(30):  # a hang here would be the background work waiting an hour
        await client.close()
