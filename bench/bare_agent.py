"""The baseline: a bare Microsoft 365 Agents SDK agent that answers every message with one text.

`python -m bench.bare_agent --port N`: the same aiohttp hosting (`CloudAdapter`,
`jwt_authorization_middleware`) and the same auth mode as Exhibit's local runs (anonymous),
nothing else — no directory, no records, no cards.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from aiohttp import web
from microsoft_agents.activity.turn_context_protocol import TurnContextProtocol
from microsoft_agents.authentication.msal import MsalAuth
from microsoft_agents.hosting.aiohttp import CloudAdapter, jwt_authorization_middleware
from microsoft_agents.hosting.core import (
    ActivityHandler,
    AgentAuthConfiguration,
    ConnectionManager,
)

ANSWER = "Hello from the bare agent."


class BareAgent(ActivityHandler):
    """Answers every message with one text."""

    async def on_message_activity(self, turn_context: TurnContextProtocol[Any]) -> None:
        await turn_context.send_activity(ANSWER)


def create_app() -> web.Application:
    """The aiohttp app: `POST /api/messages`, anonymous."""
    config = AgentAuthConfiguration(anonymous_allowed=True)
    connections = ConnectionManager(MsalAuth, {"SERVICE_CONNECTION": config})
    adapter = CloudAdapter(connection_manager=connections)
    agent = BareAgent()

    async def messages(request: web.Request) -> web.StreamResponse:
        response = await adapter.process(request, agent)
        return response if response is not None else web.Response(status=202)

    app = web.Application(middlewares=[jwt_authorization_middleware])
    app["agent_configuration"] = config
    app.router.add_post("/api/messages", messages)
    return app


def main(argv: list[str] | None = None) -> int:
    """Serve on 127.0.0.1:`--port` until interrupted."""
    parser = argparse.ArgumentParser(prog="python -m bench.bare_agent")
    parser.add_argument("--port", type=int, default=3979)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    web.run_app(create_app(), host="127.0.0.1", port=args.port, print=None, access_log=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
