"""`python -m devtools.send_file PATH [--case REF]`: send a file to Exhibit in the Playground.

The Agents Playground has no upload button. This does what Teams does for a file sent in a 1:1
chat: it serves the file at a one-off download URL on this machine and injects a message with a
`file.download.info` attachment into the Playground's personal chat (the page must be open), as
the Playground's current user. It waits until Exhibit has fetched the file, then stops serving.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
from pathlib import Path

from aiohttp import ClientSession, web

from devtools.devstack import free_port

PERSONAL_CHAT = "a:exhibit-personal-chat"
TEAMS_FILE = "application/vnd.microsoft.teams.file.download.info"


async def send(path: Path, case: str, playground: str, wait_seconds: float) -> bool:
    """Serve `path` once and inject the file message; True once Exhibit has fetched it."""
    token = secrets.token_urlsafe(16)
    fetched = asyncio.Event()

    async def download(request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != token:
            return web.Response(status=404)
        response = web.FileResponse(path)
        fetched.set()
        return response

    app = web.Application()
    app.router.add_get("/{token}/{name}", download)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        async with ClientSession(base_url=playground) as client:
            async with client.get(
                "/_internal/v1/customActivities/template",
                params={"conversationId": PERSONAL_CHAT},
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
                                "downloadUrl": f"http://127.0.0.1:{port}/{token}/{path.name}",
                                "uniqueId": token,
                                "fileType": path.suffix.lstrip("."),
                            },
                        }
                    ],
                }
            )
            async with client.post("/_internal/v1/customActivities", json=activity) as sent:
                sent.raise_for_status()
        try:
            async with asyncio.timeout(wait_seconds):
                await fetched.wait()
                await asyncio.sleep(1)  # let the response finish streaming
        except TimeoutError:
            return False
        return True
    finally:
        await runner.cleanup()


def main(argv: list[str] | None = None) -> int:
    """Send one file to the running local stack."""
    parser = argparse.ArgumentParser(prog="python -m devtools.send_file", description=__doc__)
    parser.add_argument("path", type=Path, help="the file to send")
    parser.add_argument("--case", required=True, help="case reference, e.g. MET-24-0001")
    parser.add_argument("--playground", default="http://127.0.0.1:56150", help="Playground URL")
    parser.add_argument("--wait", type=float, default=120.0, help="seconds to keep serving")
    args = parser.parse_args(argv)
    if not args.path.is_file():
        print(f"No such file: {args.path}", file=sys.stderr)
        return 2
    ok = asyncio.run(send(args.path, args.case, args.playground, args.wait))
    if not ok:
        print("Exhibit did not fetch the file: is the Playground page open, and the case "
              "one you are on?", file=sys.stderr)  # fmt: skip
        return 1
    print(f"Sent {args.path.name} to case {args.case}: watch the receipt card in Personal Chat.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
