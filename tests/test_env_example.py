"""`.env.example` documents every setting Exhibit reads."""

from __future__ import annotations

import re
from pathlib import Path

from exhibit.settings import variable_names

ROOT = Path(__file__).resolve().parent.parent


def test_every_setting_read_is_documented() -> None:
    read = set(variable_names())
    for source in sorted((ROOT / "devtools" / "app_package").glob("*.py")):
        read |= set(re.findall(r'"((?:EXHIBIT|PORT)[A-Z0-9_]*)"', source.read_text("utf-8")))
    read = {name for name in read if not name.endswith("_")}
    documented = set(re.findall(r"^(?:# )?([A-Z][A-Z0-9_]+)=", (ROOT / ".env.example").read_text(
        "utf-8"), re.MULTILINE))  # fmt: skip
    per_region = {name for name in documented if name.startswith("EXHIBIT_REGION_")}
    assert per_region, "the per-region settings are documented by example"
    assert read - documented == set()
