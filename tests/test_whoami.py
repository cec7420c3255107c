"""`whoami`: the officer as the directory resolves them, and what the unenrolled are told."""

from __future__ import annotations

from dataclasses import replace

from exhibit.settings import Settings
from graph.local import LocalDirectory
from tests.conftest import ConversationFactory
from tests.support.conversation import card_of
from tests.support.people import JANE, RAVI


async def test_whoami_shows_name_rank_unit_roles_and_source(
    settings: Settings, converse: ConversationFactory
) -> None:
    card = await (await converse(settings)).say("whoami", sender=RAVI)
    for expected in ("Ravi Patel", "Detective Sergeant", "Lambeth CID", "approver, officer",
                     "Local directory file"):  # fmt: skip
        assert expected in card


async def test_an_officer_not_in_the_directory_is_not_enrolled(
    settings: Settings, converse: ConversationFactory
) -> None:
    talk = await converse(settings)
    card = await talk.say("whoami", sender="99999999-0000-4000-8000-000000000000")
    assert "Not enrolled in Exhibit" in card
    assert "You are not enrolled" in card


async def test_a_sender_without_an_entra_id_is_not_enrolled(
    settings: Settings, converse: ConversationFactory
) -> None:
    talk = await converse(settings)
    activity = talk.message("whoami")
    del activity["from"]["aadObjectId"]
    card = str(card_of(await talk.post(activity)))
    assert "Not enrolled in Exhibit" in card


async def test_a_disabled_account_is_not_enrolled(
    settings: Settings, converse: ConversationFactory
) -> None:
    disabled = replace(JANE.officer(), enabled=False)
    talk = await converse(settings, directory=LocalDirectory([disabled]))
    card = await talk.say("whoami", sender=JANE)
    assert "Your account is disabled" in card
