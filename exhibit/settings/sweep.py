"""Integrity sweep settings: how fast, how often, and where a mismatch is reported."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlsplit

from exhibit.settings.base import Concern, Flag, SettingsError, between

DEFAULT_SWEEP_BYTES_PER_SECOND = 20 << 20  # 20 MiB/s: 1 TiB in about 14.6 hours


class SweepSettings(Concern):
    """The scheduled re-hash of every exhibit, and the security channel its alerts go to."""

    sweep_enabled: Flag = True
    sweep_bytes_per_second: Annotated[int, between(64 << 10, 1 << 34)] = (
        DEFAULT_SWEEP_BYTES_PER_SECOND
    )
    sweep_period_hours: Annotated[int, between(1, 24 * 366)] = 7 * 24
    sweep_lease_seconds: Annotated[int, between(15, 3600)] = 120
    security_channel_id: str | None = None
    security_channel_service_url: str | None = None

    @property
    def security_channel(self) -> tuple[str, str] | None:
        """(service URL, conversation id) of the security channel, when one is set."""
        if self.security_channel_id is None or self.security_channel_service_url is None:
            return None
        return self.security_channel_service_url, self.security_channel_id

    def _check_sweep(self, *, production: bool) -> None:
        channel, url = self.security_channel_id, self.security_channel_service_url
        if (channel is None) != (url is None):
            missing = (
                "EXHIBIT_SECURITY_CHANNEL_SERVICE_URL"
                if url is None
                else ("EXHIBIT_SECURITY_CHANNEL_ID")
            )
            raise SettingsError(missing, "is required with the other security channel setting")
        if channel is not None and not channel.startswith("19:"):
            raise SettingsError(
                "EXHIBIT_SECURITY_CHANNEL_ID", "must be a Teams channel id (19:...@thread.tacv2)"
            )
        if url is not None:
            parts = urlsplit(url)
            if parts.scheme not in {"https", "http"} or not parts.hostname:
                raise SettingsError(
                    "EXHIBIT_SECURITY_CHANNEL_SERVICE_URL", "must be the channel's service URL"
                )
            if production and parts.scheme != "https":
                raise SettingsError(
                    "EXHIBIT_SECURITY_CHANNEL_SERVICE_URL", "must be https in production"
                )
