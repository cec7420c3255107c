"""`python -m devtools.send_file PATH [--case REF]`: send a file to Exhibit in the Playground.

The Agents Playground has no upload button. This does what Teams does for a file sent in a 1:1
chat: it serves the file at a one-off download URL on this machine and injects a message with a
`file.download.info` attachment into the Playground's personal chat (the page must be open), as
the Playground's current user. It watches the chat (the Playground's live stream) and stops as
soon as Exhibit reports the outcome: the receipt card finished (exit 0, or 1 when a file could
not be recorded), or any other answer such as "Case not found" (exit 1), printed either way.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import secrets
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from aiohttp import ClientSession, web

from devtools.devstack import free_port
from devtools.playground import BotMessage, watch

PERSONAL_CHAT = "a:exhibit-personal-chat"
TEAMS_FILE = "application/vnd.microsoft.teams.file.download.info"


RECEIVING = re.compile(r"^Receiving \d+ files? for ")
FINISHED = re.compile(r"^\d+ exhibits? recorded for ")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What Exhibit answered: whether every file became an exhibit, and the card's words."""

    recorded: bool
    text: str


async def send(path: Path, case: str, playground: str, wait_seconds: float) -> Outcome | None:
    """Serve `path` and inject the file message; Exhibit's outcome, or None after the wait."""
    token = secrets.token_urlsafe(16)

    async def download(request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != token:
            return web.Response(status=404)
        return web.FileResponse(path)

    app = web.Application()
    app.router.add_get("/{token}/{name}", download)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        # Listening before the file is sent, so no answer can be missed.
        async with (
            ClientSession(base_url=playground) as client,
            asyncio.timeout(wait_seconds),
            watch(client) as messages,
        ):
            await _inject(client, path, case, f"http://127.0.0.1:{port}/{token}/{path.name}")
            return await _outcome(messages)
    except TimeoutError:
        return None
    finally:
        await runner.cleanup()


async def _inject(client: ClientSession, path: Path, case: str, url: str) -> None:
    """The message Teams sends for a file in a 1:1 chat, injected into the personal chat."""
    async with client.get(
        "/_internal/v1/customActivities/template", params={"conversationId": PERSONAL_CHAT}
    ) as answer:
        answer.raise_for_status()
        activity = await answer.json()
    activity.update(
        {
            "type": "message",
            "id": f"file-{secrets.token_hex(8)}",
            "text": f"add {case}",
            "attachments": [
                {
                    "contentType": TEAMS_FILE,
                    "name": path.name,
                    "content": {
                        "downloadUrl": url,
                        "uniqueId": url.rsplit("/", 2)[1],
                        "fileType": path.suffix.lstrip("."),
                    },
                }
            ],
        }
    )
    async with client.post("/_internal/v1/customActivities", json=activity) as sent:
        sent.raise_for_status()


async def _outcome(messages: AsyncIterator[BotMessage]) -> Outcome:
    """Exhibit's answer in the personal chat, followed to the end when it is a receipt."""
    receipt: str | None = None
    async for message in messages:
        if message.conversation == PERSONAL_CHAT:
            title = message.texts[0] if message.texts else ""
            if receipt is None and message.action == "createMessage":
                if not RECEIVING.match(title):
                    return Outcome(False, message.text)  # e.g. "Case not found"
                receipt = message.message_id
            if message.message_id == receipt and FINISHED.match(title):
                return Outcome("could not be recorded" not in message.text, message.text)
    raise TimeoutError  # the Playground closed the stream: no outcome


def main(argv: list[str] | None = None) -> int:
    """Send one file to the running local stack."""
    parser = argparse.ArgumentParser(prog="python -m devtools.send_file", description=__doc__)
    parser.add_argument("path", type=Path, help="the file to send")
    parser.add_argument("--case", required=True, help="case reference, e.g. MET-24-0001")
    parser.add_argument("--playground", default="http://127.0.0.1:56150", help="Playground URL")
    parser.add_argument(
        "--wait", type=float, default=120.0, help="seconds to wait for the outcome at most"
    )
    args = parser.parse_args(argv)
    if not args.path.is_file():
        print(f"No such file: {args.path}", file=sys.stderr)
        return 2
    outcome = asyncio.run(send(args.path, args.case, args.playground, args.wait))
    if outcome is None:
        print(f"No answer from Exhibit within {args.wait:.0f} s: is the Playground page open "
              "on Personal Chat?", file=sys.stderr)  # fmt: skip
        return 1
    if not outcome.recorded:
        print(f"{args.path.name} was not recorded. Exhibit said:\n{outcome.text}", file=sys.stderr)
        return 1
    print(f"{args.path.name} recorded in case {args.case}. Exhibit said:\n{outcome.text}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
