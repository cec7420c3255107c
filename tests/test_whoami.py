"""`whoami`: the officer as the directory resolves them, and what the unenrolled are told."""

from __future__ import annotations

from typing import Any

from evidence.officers import Officer, Role
from exhibit.settings import Settings
from graph.local import LocalDirectory
from tests.conftest import BotClientFactory
from tests.support.activities import load_activity
from tests.support.connector import RecordingConnector

JANE = "1a7e2c3d-0001-4f00-8000-000000000001"
RAVI = "1a7e2c3d-0002-4f00-8000-000000000002"


async def _ask(
    settings: Settings,
    bot_client: BotClientFactory,
    connector: tuple[RecordingConnector, str],
    sender: str,
    **kw: Any,
) -> str:
    recorder, url = connector
    client = await bot_client(settings, **kw)
    activity = load_activity("personal_message", url, text="whoami")
    if sender:
        activity["from"]["aadObjectId"] = sender
    else:
        del activity["from"]["aadObjectId"]
    assert (await client.post("/api/messages", json=activity)).status == 202
    (reply,) = await recorder.wait_for(1)
    return str(reply["attachments"][0]["content"])


async def test_whoami_shows_name_rank_unit_roles_and_source(
    settings: Settings, bot_client: BotClientFactory, connector: tuple[RecordingConnector, str]
) -> None:
    card = await _ask(settings, bot_client, connector, RAVI)
    for expected in ("Ravi Patel", "Detective Sergeant", "Lambeth CID", "approver, officer",
                     "Local directory file"):  # fmt: skip
        assert expected in card


async def test_an_officer_not_in_the_directory_is_not_enrolled(
    settings: Settings, bot_client: BotClientFactory, connector: tuple[RecordingConnector, str]
) -> None:
    card = await _ask(settings, bot_client, connector, "99999999-0000-4000-8000-000000000000")
    assert "Not enrolled in Exhibit" in card
    assert "You are not enrolled" in card


async def test_a_sender_without_an_entra_id_is_not_enrolled(
    settings: Settings, bot_client: BotClientFactory, connector: tuple[RecordingConnector, str]
) -> None:
    card = await _ask(settings, bot_client, connector, "")
    assert "Not enrolled in Exhibit" in card


async def test_a_disabled_account_is_not_enrolled(
    settings: Settings, bot_client: BotClientFactory, connector: tuple[RecordingConnector, str]
) -> None:
    disabled = Officer(JANE, "Jane Smith", enabled=False, roles=frozenset({Role.OFFICER}))
    card = await _ask(settings, bot_client, connector, JANE, directory=LocalDirectory([disabled]))
    assert "Your account is disabled" in card
