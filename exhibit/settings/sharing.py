"""Sharing settings: to whom evidence may be shared, for how long, how the link is sent."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from exhibit.settings.base import Concern, SettingsError, Words, WordSet, between
from graph.ids import canonical_mailbox


class SharingSettings(Concern):
    """Shares with external recipients: to whom, for how long, how the link is sent."""

    share_domains: WordSet = frozenset()
    share_organisation_types: Words = ("prosecutor", "court", "local-authority", "other-force")
    share_min_days: Annotated[int, between(1, 365)] = 1
    share_default_days: Annotated[int, between(1, 365)] = 14
    share_max_days: Annotated[int, between(1, 365)] = 30
    share_mail_from_setting: str | None = Field(None, validation_alias="EXHIBIT_SHARE_MAIL_FROM")
    verify_inline_bytes: Annotated[int, between(0, 1 << 40)] = 64 << 20
    # Who the recipient's page and e-mail say the evidence comes from, and whom to ask about it.
    force_name: Annotated[str, Field(max_length=120)] = "Exhibit (development)"
    share_contact: Annotated[str, Field(max_length=200)] = ""

    @property
    def share_days(self) -> tuple[int, int, int]:
        """The days a link may work: minimum, default, maximum."""
        return self.share_min_days, self.share_default_days, self.share_max_days

    @property
    def share_mail_from(self) -> str | None:
        """The mailbox links are e-mailed from (address or object id), if any."""
        if self.share_mail_from_setting is None:
            return None
        return canonical_mailbox(self.share_mail_from_setting)

    def _check_sharing(self) -> None:
        low, default, high = self.share_days
        if not low <= default <= high:
            raise SettingsError("EXHIBIT_SHARE_DEFAULT_DAYS", f"must be between {low} and {high}")
        if self.share_mail_from_setting is not None and self.share_mail_from is None:
            raise SettingsError(
                "EXHIBIT_SHARE_MAIL_FROM", "must be the sender mailbox's address or object id"
            )
