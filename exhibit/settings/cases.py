"""Case settings: references, titles and case teams."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import Field

from exhibit.settings.base import Concern, Flag, Seconds, SettingsError, between

DEFAULT_CASE_PATTERN = r"[A-Z]{2,6}-[0-9]{2}-[0-9]{4,6}"


class CaseSettings(Concern):
    """Case references, titles and case teams."""

    case_reference_pattern: re.Pattern[str] = Field(
        re.compile(DEFAULT_CASE_PATTERN), validation_alias="EXHIBIT_CASE_REF_PATTERN"
    )
    # A reference that follows the pattern, shown to people instead of the pattern itself.
    case_reference_example: str = Field("MET-24-0001", validation_alias="EXHIBIT_CASE_REF_EXAMPLE")
    case_title_max: Annotated[int, between(10, 500)] = 120
    case_team_seconds: Seconds = 300
    create_case_channels: Flag = False

    def _check_cases(self) -> None:
        if not self.case_reference_pattern.fullmatch(self.case_reference_example):
            raise SettingsError("EXHIBIT_CASE_REF_EXAMPLE", "must follow EXHIBIT_CASE_REF_PATTERN")
