"""The bot with the Graph directory: whoami from Entra, outages, case teams and case channels.

The directory is the real GraphDirectory (msgraph-sdk, azure-identity) talking to a fake tenant:
an HTTPS token endpoint and a fake Graph speaking its documented JSON.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator, Iterable, Mapping

import pytest

from evidence.officers import Officer
from evidence.records import inside_unit
from exhibit.settings import Settings, load_settings
from graph.graph_directory import GraphDirectory, open_graph_directory
from storage.database import create_engine
from storage.records import SqlRecords
from tests.conftest import ConversationFactory
from tests.fakes.graph_server import Fault, reference_attachment
from tests.fakes.tenant import (
    FakeTenant,
    Tls,
    fake_tenant,
)
from tests.support.connector import RecordingConnector
from tests.support.conversation import CASE_CHANNEL, card_of
from tests.support.graph_mode import (
    APPROVERS_GROUP,
    CHANNEL,
    OFFICERS_GROUP,
    ROLE_GROUPS,
    TEAM,
    graph_env,
)
from tests.support.people import JANE, LIAM, RAVI


@pytest.fixture
async def tenant(tls: Tls) -> AsyncIterator[FakeTenant]:
    async with fake_tenant(tls) as running:
        graph = running.graph
        graph.add_user(JANE.object_id, "Jane Smith", givenName="Jane", surname="Smith",
                       jobTitle="Police Constable", department="Lambeth CID",
                       mail="jane.smith@met.example", businessPhones=["+44 20 7946 0018"],
                       groups=[OFFICERS_GROUP])  # fmt: skip
        graph.add_user(RAVI.object_id, "Ravi Patel", jobTitle="Detective Sergeant",
                       userPrincipalName="ravi.patel@met.example",
                       groups=[OFFICERS_GROUP, APPROVERS_GROUP])  # fmt: skip
        graph.add_user(
            LIAM.object_id, "Liam Walsh", jobTitle="Police Constable", groups=[OFFICERS_GROUP]
        )
        graph.add_channel(TEAM, CHANNEL, [JANE.object_id, RAVI.object_id])
        yield running


@pytest.fixture
async def directory(tenant: FakeTenant) -> AsyncIterator[GraphDirectory]:
    opened = await open_graph_directory(tenant.config(role_groups=ROLE_GROUPS))
    yield opened
    await opened.aclose()


def _graph_settings(base_env: dict[str, str], **extra: str) -> Settings:
    return load_settings(graph_env(base_env, **extra))


async def test_whoami_comes_from_entra(
    base_env: dict[str, str],
    converse: ConversationFactory,
    directory: GraphDirectory,
) -> None:
    talk = await converse(_graph_settings(base_env), directory=directory)
    card = await talk.say("whoami")
    assert "Jane Smith" in card
    assert "Police Constable" in card
    assert "Entra ID (Microsoft Graph)" in card


async def test_graph_down_gives_a_clear_card_and_no_exception(
    base_env: dict[str, str],
    converse: ConversationFactory,
    tenant: FakeTenant,
    directory: GraphDirectory,
) -> None:
    tenant.graph.faults.append(Fault(503, times=50))
    talk = await converse(_graph_settings(base_env), directory=directory)
    card = await talk.say("whoami")
    assert "Directory unavailable" in card
    assert "Nothing was changed" in card


async def test_case_team_comes_from_graph_channel_members(
    base_env: dict[str, str],
    converse: ConversationFactory,
    directory: GraphDirectory,
) -> None:
    settings = _graph_settings(base_env)
    # Each message to a freshly started bot: nothing cached from the one before.
    await (await converse(settings, directory=directory)).say(
        "case open MET-24-0100 Theft", where=CASE_CHANNEL
    )
    ravi = await (await converse(settings, directory=directory)).say(
        "case show MET-24-0100", sender=RAVI
    )
    assert "Theft" in ravi
    liam = await (await converse(settings, directory=directory)).say(
        "case show MET-24-0100", sender=LIAM
    )
    assert "that you can see" in liam


async def test_case_open_can_create_a_dedicated_channel(
    base_env: dict[str, str],
    converse: ConversationFactory,
    connector: tuple[RecordingConnector, str],
    tenant: FakeTenant,
    directory: GraphDirectory,
) -> None:
    recorder, _url = connector
    settings = _graph_settings(base_env, EXHIBIT_CREATE_CASE_CHANNELS="true")
    text = "case open MET-24-0101 Burglary: 12 High St."
    talk = await converse(settings, directory=directory)
    answer = await talk.say(text, where=CASE_CHANNEL)
    (created,) = tenant.graph.created_channels
    assert created["displayName"] == "MET-24-0101 Burglary 12 High St"
    new_channel = created["id"]
    posts = [
        r for r in recorder.received if r.path == f"/v3/conversations/{new_channel}/activities"
    ]
    assert len(posts) == 1
    assert "MET-24-0101" in str(posts[0].body["attachments"][0]["content"])
    assert "Case opened in its own channel" in answer


async def test_the_channel_name_comes_from_graph_when_teams_leaves_it_out(
    base_env: dict[str, str],
    converse: ConversationFactory,
    tenant: FakeTenant,
    directory: GraphDirectory,
) -> None:
    tenant.graph.add_channel(TEAM, CHANNEL, [JANE.object_id, RAVI.object_id], name="Op Kestrel")
    talk = await converse(_graph_settings(base_env), directory=directory)
    await talk.say("case open MET-24-0102 Theft from a van")
    bound = await talk.say("case bind MET-24-0102", where=CASE_CHANNEL)
    assert "'title': 'Channel', 'value': 'Op Kestrel'" in bound
    assert tenant.graph.http_requests["GET /teams/{id}/channels/{id}"] == 1
    assert "id,displayName" in tenant.graph.selects


async def test_a_channel_graph_cannot_see_is_not_named(
    base_env: dict[str, str],
    converse: ConversationFactory,
    tenant: FakeTenant,
    directory: GraphDirectory,
) -> None:
    # No name in Graph (404) and none from the connector: honest, and the case still opens.
    talk = await converse(_graph_settings(base_env), directory=directory)
    opened = await talk.say("case open MET-24-0103 Fraud", where=CASE_CHANNEL)
    assert "'title': 'Channel', 'value': 'bound (name not known yet)'" in opened
    assert tenant.graph.http_requests["GET /teams/{id}/channels/{id}"] == 1


async def test_the_requesters_contact_comes_from_entra(directory: GraphDirectory) -> None:
    jane = await directory.officer(JANE.object_id)
    assert jane is not None
    assert (jane.email, jane.phone) == ("jane.smith@met.example", "+44 20 7946 0018")
    ravi = await directory.officer(RAVI.object_id)
    assert ravi is not None
    # No mail: the user principal name; no business phone: none.
    assert (ravi.email, ravi.phone) == ("ravi.patel@met.example", "")


def test_channel_creation_needs_the_graph_directory(base_env: dict[str, str]) -> None:
    from exhibit.settings import SettingsError

    with pytest.raises(SettingsError) as raised:
        load_settings({**base_env, "EXHIBIT_CREATE_CASE_CHANNELS": "true"})
    assert raised.value.name == "EXHIBIT_CREATE_CASE_CHANNELS"


async def test_a_file_posted_in_a_channel_is_read_through_graph_with_quick_xor(
    base_env: dict[str, str],
    converse: ConversationFactory,
    tenant: FakeTenant,
    directory: GraphDirectory,
    tls: Tls,
) -> None:
    settings = _graph_settings(
        base_env,
        EXHIBIT_GRAPH_AUTHORITY_HOST=tenant.tokens.authority,
        EXHIBIT_GRAPH_CA_BUNDLE=str(tls.material.ca_file),
        EXHIBIT_GRAPH_BASE_URL=tenant.graph.base_url,
        EXHIBIT_DOWNLOAD_HOSTS="127.0.0.1,*.sharepoint.com",
    )
    content = b"%PDF-1.7\n" + os.urandom(100_000)
    file_url = "https://met.sharepoint.com/sites/OpKestrel/Shared Documents/statement.pdf"
    item = tenant.graph.add_drive_item(
        file_url, "statement.pdf", content, mime_type="application/pdf",
        drive_id=tenant.graph.channel_drive(TEAM, CHANNEL),
    )  # fmt: skip
    talk = await converse(settings, directory=directory)
    await talk.say("case open MET-24-0102 Theft", where=CASE_CHANNEL)
    root = "1732570000777"
    tenant.graph.add_channel_message(
        TEAM, CHANNEL, root, attachments=[reference_attachment("statement.pdf", file_url)]
    )
    activity = talk.message("add", where=CASE_CHANNEL, activity_id=root)
    activity["conversation"]["id"] = f"{CHANNEL};messageid={root}"
    receipt = await talk.post(activity)
    assert "Receiving 1 file for MET-24-0102" in str(card_of(receipt))
    await talk.wait_for_update("Exhibit JS/1", attempts=150)
    engine = create_engine(settings.database_url.get_secret_value())
    try:
        async with SqlRecords(engine).unit() as unit:
            case = await unit.case_by_reference("MET-24-0102")
            assert case is not None
            (exhibit,) = await unit.exhibits_of(case.id)
    finally:
        await engine.dispose()
    assert exhibit.sha256 == hashlib.sha256(content).hexdigest()
    assert exhibit.source_details["quickXorHash"] == item.quick_xor_hash
    assert exhibit.source_details["quickXorHashMatches"] is True
    assert exhibit.source_details["eTag"]


class WatchedDirectory:
    """The Graph directory, noting whether each channel-member lookup ran inside a unit."""

    def __init__(self, inner: GraphDirectory) -> None:
        self.inner = inner
        self.source = inner.source
        self.lookups_inside_a_unit: list[bool] = []

    async def officer(self, object_id: str, *, fresh: bool = False) -> Officer | None:
        return await self.inner.officer(object_id, fresh=fresh)

    async def officers(self, object_ids: Iterable[str]) -> Mapping[str, Officer]:
        return await self.inner.officers(object_ids)

    async def channel_members(
        self, team_id: str, channel_id: str, *, fresh: bool = False
    ) -> frozenset[str]:
        self.lookups_inside_a_unit.append(inside_unit())
        return await self.inner.channel_members(team_id, channel_id, fresh=fresh)


async def test_case_teams_are_looked_up_outside_units_of_work(
    base_env: dict[str, str],
    converse: ConversationFactory,
    tenant: FakeTenant,
    directory: GraphDirectory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A Graph call inside a unit would hold SQLite's write lock for as long as Graph takes."""
    watched = WatchedDirectory(directory)
    settings = _graph_settings(base_env, EXHIBIT_CASE_TEAM_SECONDS="0")  # every command asks
    talk = await converse(settings, directory=watched)
    await talk.say("case open MET-24-0110 Theft", where=CASE_CHANNEL)
    await talk.say("case open MET-24-0111 Fraud")  # 1:1
    tenant.graph.delay = 0.3  # slow enough that a lookup inside a unit would be felt

    ravi = await talk.say("case show MET-24-0110", sender=RAVI)
    listed = await talk.say("case list", sender=RAVI)
    liam = await talk.say("case list", sender=LIAM)

    assert "Theft" in ravi
    assert "MET-24-0110" in listed
    assert "MET-24-0111" not in listed  # Jane's own, in no channel
    assert "MET-24-0110" not in liam
    assert watched.lookups_inside_a_unit
    assert not any(watched.lookups_inside_a_unit)
    assert "inside a unit of work" not in caplog.text
