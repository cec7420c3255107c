"""`python -m devtools.click --as "Ravi Patel" approve S-…`: click a share's approval card as
another Playground user.

The Playground's page clicks only as its current user (Jane). This sends exactly what the page
sends for a click on the Approve or Reject button of the share's approval card in the case
channel — an `adaptiveCard/action` invoke, from that user, in that conversation, replying to
that card — through the Playground, which forwards it to Exhibit and redraws the card with the
answer. The card is found where Exhibit recorded it (the local stack's database).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import ClientSession

from devtools.devstack import ROOT
from devtools.playground import card_texts, user_id
from storage.database import create_engine
from storage.records import SqlRecords

VERBS = {"approve": "share.approve", "reject": "share.reject"}


@dataclass(frozen=True, slots=True)
class CardPlace:
    """Where the Playground shows a share's approval card."""

    conversation: str
    message_id: str


async def approval_card(database_url: str, share_id: str) -> CardPlace | None:
    """Where Exhibit posted the approval card of `share_id`, from its records."""
    engine = create_engine(database_url)
    try:
        async with SqlRecords(engine).unit() as unit:
            share = await unit.share(share_id)
            case = await unit.case_by_id(share.case_id) if share else None
    finally:
        await engine.dispose()
    if share is None or case is None or case.channel is None or not share.approval_activity_id:
        return None
    reference = json.loads(case.channel.conversation_reference)
    conversation = str(reference["conversation"]["id"]).split(";messageid=", 1)[0]
    return CardPlace(conversation, share.approval_activity_id)


async def click(playground: str, who: str, share_id: str, place: CardPlace, verb: str,
                note: str) -> Any:  # fmt: skip
    """The click as the page would send it; the bot's invoke answer as the Playground gives it.

    The data is the button's (`shareId`) with the card's input (`reason`, the note), merged
    as Adaptive Cards do. The Playground files a channel's new posts under the channel or under the
    thread (`;messageid=`): the card is looked for in both.
    """
    value = {
        "action": {
            "type": "Action.Execute",
            "verb": verb,
            "data": {"shareId": share_id, "reason": note},
        },
        "trigger": "manual",
    }
    threads = (place.conversation, f"{place.conversation};messageid={place.message_id}")
    async with ClientSession(base_url=playground.rstrip("/")) as client:
        for conversation in threads:
            body = {
                "name": "adaptiveCard/action",
                "value": value,
                "from": {"id": who},
                "conversation": {"id": conversation},
                "replyToId": place.message_id,
            }
            async with client.post("/_conversation/v1/invoke", json=body) as answer:
                if answer.ok:
                    return await answer.json()
    return None


def main(argv: list[str] | None = None) -> int:
    """Click Approve or Reject on a share's approval card as another Playground user."""
    parser = argparse.ArgumentParser(prog="python -m devtools.click", description=__doc__)
    parser.add_argument("--as", dest="who", required=True, help='a Playground user: "Ravi Patel"')
    parser.add_argument("verb", choices=sorted(VERBS), help="the button to click")
    parser.add_argument("share", help="the share id, e.g. S-0123456789")
    parser.add_argument("--note", default="", help="the card's note field (a reason to reject)")
    parser.add_argument("--playground", default="http://127.0.0.1:56150", help="Playground URL")
    parser.add_argument(
        "--data-dir", type=Path, default=ROOT / "var", help="the local stack's (default: var/)"
    )
    args = parser.parse_args(argv)
    try:
        who = user_id(args.who)
    except KeyError as err:
        print(err.args[0], file=sys.stderr)
        return 2
    share_id = args.share.strip().upper()
    database = args.data_dir.resolve() / "exhibit.db"
    place = asyncio.run(approval_card(f"sqlite+aiosqlite:///{database}", share_id))
    if place is None:
        print(f"No approval card for {share_id} in {database}.", file=sys.stderr)
        return 1
    answer = asyncio.run(click(args.playground, who, share_id, place, VERBS[args.verb], args.note))
    if answer is None:
        print("The Playground did not take the click: is its page open (a reload forgets every "
              "card)?", file=sys.stderr)  # fmt: skip
        return 1
    shown = card_texts(answer.get("value")) if isinstance(answer, dict) else []
    print(f"Clicked {args.verb.capitalize()} on {share_id} as {args.who}. The card now says:")
    print("\n".join(shown) or json.dumps(answer))
    return 0


if __name__ == "__main__":
    sys.exit(main())
