"""The Teams app package's settings, read apart from `Settings`."""

from __future__ import annotations

from collections.abc import Mapping

from exhibit.settings.base import Concern, reading


class TeamsAppSettings(Concern):
    """The Teams app package: read apart from `Settings`, as a package is built elsewhere.

    Plain text here; the package builder checks each value against Teams' own rules and names
    the command-line option that can override it.
    """

    bot_app_id: str | None = None
    teams_app_id: str | None = None
    public_host: str | None = None
    app_developer_url: str | None = None
    app_privacy_url: str | None = None
    app_terms_url: str | None = None
    app_version: str | None = None


def load_teams_app_settings(env: Mapping[str, str]) -> TeamsAppSettings:
    """The Teams app package's values in `env` (none is required here)."""
    with reading(env):
        return TeamsAppSettings()
