"""The app package builder's errors; each str is the message shown to the admin.

AppPackageError      root
├── SettingError     a value is missing or invalid; `name` is the environment variable
├── TemplateError    the manifest template or the bundled schema cannot be used
└── ManifestInvalid  the filled manifest breaks the schema or a Teams limit; `problems`
"""

from __future__ import annotations

from collections.abc import Sequence


class AppPackageError(Exception):
    """The package cannot be built; the message says why."""


class SettingError(AppPackageError):
    """A value is missing or invalid; `name` is the environment variable that sets it."""

    def __init__(self, name: str, problem: str, option: str | None = None) -> None:
        where = f"{name} (or {option})" if option else name
        super().__init__(f"{where}: {problem}")
        self.name = name
        self.problem = problem


class TemplateError(AppPackageError):
    """The manifest template or the bundled schema cannot be used as it is."""


class ManifestInvalid(AppPackageError):
    """The filled manifest breaks the official schema or a Teams limit."""

    def __init__(self, problems: Sequence[str]) -> None:
        super().__init__("the manifest is invalid:\n  " + "\n  ".join(problems))
        self.problems = tuple(problems)
