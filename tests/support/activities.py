"""Captured Teams activity JSON (tests/fixtures), adapted to a test's connector and tenant."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def load_activity(name: str, service_url: str, **changes: Any) -> dict[str, Any]:
    """The fixture `name` (without .json) with `serviceUrl` set and top-level `changes` applied."""
    activity: dict[str, Any] = json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))
    activity = copy.deepcopy(activity)
    activity["serviceUrl"] = service_url
    activity.update(changes)
    return activity


def with_tenant(activity: dict[str, Any], tenant: str) -> dict[str, Any]:
    """`activity` as if sent from another tenant."""
    changed = copy.deepcopy(activity)
    changed["conversation"]["tenantId"] = tenant
    changed["channelData"]["tenant"]["id"] = tenant
    return changed
