"""The bot in Graph mode against the fake tenant: its role groups, the case team, the settings."""

from __future__ import annotations

from tests.fakes.tenant import CLIENT_ID, CLIENT_SECRET, TENANT_ID

OFFICERS_GROUP = "5e0a0000-0000-4000-8000-0000000000a1"
APPROVERS_GROUP = "5e0a0000-0000-4000-8000-0000000000a2"
ROLE_GROUPS = {OFFICERS_GROUP: "officer", APPROVERS_GROUP: "approver"}
TEAM = "7b3f9e21-4c5d-4e6f-8a7b-9c0d1e2f3a4b"  # the case team's Entra group id
CHANNEL = "19:exhibit-case-channel@thread.tacv2"


def graph_env(base_env: dict[str, str], **extra: str) -> dict[str, str]:
    """`base_env` with the Graph directory of the fake tenant (client secret) and its roles."""
    return {
        **base_env,
        "EXHIBIT_DIRECTORY": "graph",
        "EXHIBIT_GRAPH_TENANT_ID": TENANT_ID,
        "EXHIBIT_GRAPH_CLIENT_ID": CLIENT_ID,
        "EXHIBIT_GRAPH_CLIENT_SECRET": CLIENT_SECRET,
        "EXHIBIT_ROLE_GROUPS": ",".join(f"{group}={role}" for group, role in ROLE_GROUPS.items()),
        **extra,
    }
