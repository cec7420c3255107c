"""The Adaptive Card models (`microsoft_teams.cards`), imported when the first card is built.

Defining their hundred-odd pydantic classes takes about 0.3 s, a quarter of a bare agent's whole
start, and no card is needed to answer `/readyz`. Card code names every model through `ac`
(`ac.TextBlock(...)`); the service imports the models in the background once it is ready
(`exhibit.composition`), so a conversation rarely waits for them.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

MODULE = "microsoft_teams.cards"

__all__ = ["MODULE", "ac"]


class _OnFirstUse:
    """A module's attributes, the module imported on the first one asked for.

    The import system's own lock makes that safe from any thread; each attribute is kept here
    after its first lookup.
    """

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        value = getattr(importlib.import_module(self._name), attribute)
        setattr(self, attribute, value)
        return value


if TYPE_CHECKING:
    import microsoft_teams.cards as ac
else:
    ac = _OnFirstUse(MODULE)
