"""Exhibit's settings: one frozen object, built once at start-up from the environment.

One module per concern (`service`, `bot`, `storage`, `directory`, `cases`, `intake`,
`sharing`, `signing`, `sweep`), composed into `Settings` by `load`; the Teams app package's own
settings are in `teams_app`. Importers use the names exported here.
"""

from exhibit.settings.base import SettingsError
from exhibit.settings.bot import BotAuthType
from exhibit.settings.directory import GraphSettings
from exhibit.settings.load import Settings, load_settings, variable_names
from exhibit.settings.service import Environment
from exhibit.settings.signing import SigningSettings
from exhibit.settings.teams_app import load_teams_app_settings

__all__ = [
    "BotAuthType",
    "Environment",
    "GraphSettings",
    "Settings",
    "SettingsError",
    "SigningSettings",
    "load_settings",
    "load_teams_app_settings",
    "variable_names",
]
