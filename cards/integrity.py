"""The integrity alert: a stored exhibit that no longer matches what was taken in.

It names the case and exhibit, what was expected and what was found, and when; it carries no
file content and no file name (it also goes to the force's security channel, outside the case
team).
"""

from __future__ import annotations

from cards.models import ac
from cards.text import plain, wording
from cards.time import when
from evidence.sweeps import IntegrityAlert


def _bytes(size: int | None) -> str:
    return "\u2014" if size is None else f"{size:,} bytes"


def build_integrity_alert_card(case_reference: str, alert: IntegrityAlert) -> ac.AdaptiveCard:
    """What the sweep found about one exhibit, in plain words, and what to do."""
    exhibit = f"{case_reference} {alert.exhibit_ref}"
    if alert.found_sha256 is None:
        finding = (
            f"Exhibit's scheduled integrity check could not read the stored file of exhibit "
            f"{exhibit}: {alert.problem}."
        )
    else:
        finding = (
            f"Exhibit's scheduled integrity check read the stored file of exhibit {exhibit} "
            "again, and it is not the file that was taken in: its SHA-256 fingerprint is "
            "different"
            + (", and so is its size." if alert.found_size != alert.expected_size else ".")
        )
    return ac.AdaptiveCard(
        body=[
            ac.TextBlock(
                text=plain(f"Integrity alert: {exhibit}"),
                weight="Bolder",
                size="Medium",
                color="Attention",
                wrap=True,
            ),
            ac.TextBlock(text=wording(finding), wrap=True),
            ac.FactSet(
                facts=[
                    ac.Fact(title="Case", value=plain(case_reference)),
                    ac.Fact(title="Exhibit", value=plain(alert.exhibit_ref)),
                    ac.Fact(title="Found", value=when(alert.found_at, seconds=True)),
                    ac.Fact(title="Expected size", value=_bytes(alert.expected_size)),
                    ac.Fact(title="Found size", value=_bytes(alert.found_size)),
                    ac.Fact(title="Region", value=plain(alert.region)),
                    ac.Fact(title="Check run", value=plain(alert.pass_id)),
                ]
            ),
            ac.TextBlock(text="Expected SHA-256 (taken at intake)", weight="Bolder", wrap=True),
            ac.TextBlock(
                text=plain(alert.expected_sha256), font_type="Monospace", size="Small", wrap=True
            ),
            ac.TextBlock(text="Found SHA-256 (read now)", weight="Bolder", wrap=True),
            ac.TextBlock(
                text=plain(alert.found_sha256 or "none: the file could not be read"),
                font_type="Monospace",
                size="Small",
                wrap=True,
            ),
            ac.TextBlock(
                text=wording(
                    "What to do: tell professional standards now. Exhibit has changed and "
                    "deleted nothing; any share of this exhibit is refused while it does not "
                    f"match. The check is in the exhibit's chain of custody: "
                    f"`custody {case_reference} {alert.exhibit_ref}`."
                ),
                wrap=True,
            ),
        ]
    )
