"""Behind a reverse proxy: the link pages see each client's address, not the proxy's.

The app is built by the composition root from settings (EXHIBIT_TRUSTED_PROXY_HOPS); the test
client is the "proxy": every request comes from its loopback address and carries the
X-Forwarded-For header a proxy would have appended to.
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from evidence.custody import Action
from evidence.model import Case
from evidence.shares import Share, ShareStatus
from evidence.sharing import new_link_token
from exhibit.composition import SERVICES
from exhibit.settings import Settings, load_settings
from signing.local import ensure_key_file
from tests.conftest import BOT_APP_ID, TENANT, BotClientFactory

Client = TestClient[web.Request, web.Application]
BURST = 30  # the link pages' default token bucket


def _settings(base_env: dict[str, str], hops: int) -> Settings:
    return load_settings(base_env | {"EXHIBIT_TRUSTED_PROXY_HOPS": str(hops)})


async def _shared_link(client: Client) -> tuple[str, str]:
    """An approved share of a new case, straight into the records: (case id, link token)."""
    records = client.app[SERVICES].records
    now = datetime.now(UTC)
    case = Case(str(uuid.uuid4()), f"MET-26-{uuid.uuid4().int % 10000:04d}", "Burglary",
                "uksouth", "officer", now)  # fmt: skip
    token = new_link_token()
    share = Share(
        id=str(uuid.uuid4()), case_id=case.id, exhibit_ids=(), requested_by="officer",
        requested_by_name="PC Jane Smith", recipient="lawyer@cps.gov.uk",
        organisation_type="prosecutor", reason="Disclosure", days=14,
        status=ShareStatus.APPROVED, created_at=now, request_expires_at=now + timedelta(days=7),
        decided_by="approver", decided_by_name="DS Sam Patel", decided_at=now,
        token_sha256=token.sha256, link_expires_at=now + timedelta(days=14),
    )  # fmt: skip
    async with records.unit() as unit:
        await unit.add_case(case)
        await unit.add_share(share)
    return case.id, token.secret


async def _visits(client: Client, case_id: str) -> list[str]:
    """The `ip` of every link visit the ledger holds for the case."""
    async with client.app[SERVICES].records.unit() as unit:
        entries = await unit.custody(case_id)
    return [str(e.details["ip"]) for e in entries if e.action == Action.LINK_OPENED]


def _from(forwarded: str) -> dict[str, str]:
    return {"X-Forwarded-For": forwarded}


async def test_one_client_at_the_limit_does_not_lock_out_another(
    base_env: dict[str, str], bot_client: BotClientFactory
) -> None:
    client = await bot_client(_settings(base_env, 1), start_worker=False)
    statuses = [
        (await client.get("/s/no-such-token", headers=_from("203.0.113.7"))).status
        for _ in range(BURST + 1)
    ]
    assert statuses[:BURST] == [404] * BURST
    assert statuses[BURST] == 429
    other = await client.get("/s/no-such-token", headers=_from("198.51.100.9"))
    assert other.status == 404


@pytest.mark.parametrize(
    ("hops", "forwarded", "recorded"),
    [
        (1, "203.0.113.50", "203.0.113.50"),
        # A client's own X-Forwarded-For entry stays on the left: it cannot choose its address.
        (1, "6.6.6.6, 203.0.113.51", "203.0.113.51"),
        (1, "6.6.6.6,10.0.0.1, 203.0.113.52", "203.0.113.52"),
        (2, "6.6.6.6, 203.0.113.53, 10.0.0.4", "203.0.113.53"),
        # Fewer entries than hops: each was still written by a trusted proxy; the leftmost wins.
        (3, "203.0.113.54, 10.0.0.4", "203.0.113.54"),
        # Azure Application Gateway appends ip:port.
        (1, "203.0.113.55:51234", "203.0.113.55"),
        (1, "[2001:db8::55]:443", "2001:db8::55"),
    ],
)
async def test_the_ledger_records_the_clients_address(
    base_env: dict[str, str],
    bot_client: BotClientFactory,
    hops: int,
    forwarded: str,
    recorded: str,
) -> None:
    client = await bot_client(_settings(base_env, hops), start_worker=False)
    case_id, token = await _shared_link(client)
    assert (await client.get(f"/s/{token}", headers=_from(forwarded))).status == 200
    assert await _visits(client, case_id) == [recorded]


async def test_without_trusted_proxies_the_header_is_ignored(
    base_env: dict[str, str], bot_client: BotClientFactory
) -> None:
    client = await bot_client(_settings(base_env, 0), start_worker=False)
    case_id, token = await _shared_link(client)
    assert (await client.get(f"/s/{token}", headers=_from("203.0.113.60"))).status == 200
    assert await _visits(client, case_id) == ["127.0.0.1"]


async def test_production_without_the_setting_warns_at_start_up(
    base_env: dict[str, str], bot_client: BotClientFactory, caplog: pytest.LogCaptureFixture
) -> None:
    env = {k: v for k, v in base_env.items() if k != "EXHIBIT_DANGEROUSLY_ALLOW_ANONYMOUS"}
    production = load_settings(production_env(env))
    with caplog.at_level(logging.WARNING):
        await bot_client(production, start_worker=False)
    assert any(
        "EXHIBIT_TRUSTED_PROXY_HOPS" in r.getMessage() and r.levelno == logging.WARNING
        for r in caplog.records
    )
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        await bot_client(
            load_settings({**production_env(env), "EXHIBIT_TRUSTED_PROXY_HOPS": "1"}),
            start_worker=False,
        )
    assert not any("EXHIBIT_TRUSTED_PROXY_HOPS" in r.getMessage() for r in caplog.records)


def production_env(env: dict[str, str]) -> dict[str, str]:
    ensure_key_file(Path(env["EXHIBIT_CHECKPOINT_KEY_FILE"]))  # production never creates one
    return env | {
        "EXHIBIT_DANGEROUSLY_ALLOW_CHECKPOINT_KEY_FILE": "true",
        "EXHIBIT_ENV": "production",
        "EXHIBIT_PUBLIC_URL": "https://exhibit.force.example",
        "EXHIBIT_BOT_APP_ID": BOT_APP_ID,
        "EXHIBIT_BOT_TENANT_ID": TENANT,
        "EXHIBIT_BOT_CLIENT_SECRET": "not-used-in-tests",
    }
