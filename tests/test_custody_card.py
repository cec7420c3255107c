"""The custody card through the bot: plain words, views folded, paging and who viewed, by
buttons that check access like every click."""

from __future__ import annotations

import re

from evidence.custody import Action
from storage.records import SqlRecords
from tests.support.app_records import records as records  # the fixture
from tests.support.conversation import Conversation, teams_file
from tests.support.people import JANE, LIAM
from tests.test_intake import PDF, Files
from tests.test_intake import files as files  # the fixture
from tests.test_intake import officer as officer  # the fixture

EARLIER, VIEWS = "custody.earlier", "custody.views"


async def _exhibit_id(records: SqlRecords, reference: str) -> str:
    async with records.unit() as unit:
        case = await unit.case_by_reference(reference)
        assert case is not None
        (exhibit,) = await unit.exhibits_of(case.id)
    return exhibit.id


async def _views(records: SqlRecords, reference: str) -> int:
    async with records.unit() as unit:
        case = await unit.case_by_reference(reference)
        assert case is not None
        chain = await unit.custody(case.id)
    viewed = {Action.EXHIBIT_VIEWED.value, Action.CUSTODY_VIEWED.value}
    return sum(1 for entry in chain if entry.action in viewed)


async def test_the_newest_page_then_earlier_entries_and_who_viewed(
    officer: Conversation, files: Files, records: SqlRecords
) -> None:
    await officer.say("case open MET-24-0031 Theft")
    await officer.say("add MET-24-0031", [teams_file("van.pdf", files.link("van.pdf", PDF))])
    await officer.wait_for_update("Exhibit JS/1")
    for _ in range(15):  # 15 verifications: with the intake, 17 entries, two past the page
        assert "Verified" in await officer.say("evidence verify MET-24-0031 JS/1")
    card = await officer.say("custody MET-24-0031 JS/1")
    assert "2 earlier entries not shown." in card
    assert "Verified by Jane Smith: the stored file matches its intake hash" in card
    assert "Sent for intake" not in card  # on the earlier page
    assert "exhibit.viewed" not in card
    views = await _views(records, "MET-24-0031")
    assert views >= 15  # each `evidence verify` viewed the exhibit
    assert f"Viewed {views - 1} times" in card  # the views before this one
    before = re.search(r"'before': '(\d+)'", card)
    assert before is not None
    exhibit_id = await _exhibit_id(records, "MET-24-0031")
    earlier = await officer.click(
        EARLIER, {"exhibitId": exhibit_id, "before": before.group(1)}, sender=JANE
    )
    assert "Sent for intake by Jane Smith (van.pdf)" in earlier
    assert "Stored and hashed" in earlier
    assert "earlier entr" not in earlier
    assert "Chain of custody verified" in earlier  # the verification stays on top
    viewers = await officer.click(VIEWS, {"exhibitId": exhibit_id}, sender=JANE)
    assert f"Viewed {views + 1} times" in viewers  # and the earlier page since
    assert viewers.count("Jane Smith viewed the custody") == 2
    assert viewers.count("Jane Smith viewed the exhibit") == views - 1


async def test_the_buttons_show_nothing_to_someone_off_the_case(
    officer: Conversation, files: Files, records: SqlRecords
) -> None:
    await officer.say("case open MET-24-0032 Theft")
    await officer.say("add MET-24-0032", [teams_file("van.pdf", files.link("van.pdf", PDF))])
    await officer.wait_for_update("Exhibit JS/1")
    exhibit_id = await _exhibit_id(records, "MET-24-0032")
    for verb, data in [
        (EARLIER, {"exhibitId": exhibit_id, "before": "99"}),
        (VIEWS, {"exhibitId": exhibit_id}),
    ]:
        refused = await officer.click(verb, data, sender=LIAM)
        assert "This card is not available to you." in refused
        assert "van.pdf" not in refused
        unknown = await officer.click(verb, {"exhibitId": "nope", "before": "9"}, sender=LIAM)
        assert unknown == refused  # "absent" and "not yours" read the same
    async with records.unit() as unit:
        case = await unit.case_by_reference("MET-24-0032")
        assert case is not None
        chain = await unit.custody(case.id)
    assert [e.action for e in chain].count(Action.ACCESS_REFUSED) == 2
    assert Action.CUSTODY_VIEWED not in [e.action for e in chain]
