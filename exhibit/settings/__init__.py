"""Exhibit's settings: one frozen object, built once at start-up from the environment."""

from exhibit.settings.load import (
    BotAuthType,
    Environment,
    GraphSettings,
    Settings,
    SettingsError,
    load_settings,
    load_teams_app_settings,
    variable_names,
)

__all__ = [
    "BotAuthType",
    "Environment",
    "GraphSettings",
    "Settings",
    "SettingsError",
    "load_settings",
    "load_teams_app_settings",
    "variable_names",
]
