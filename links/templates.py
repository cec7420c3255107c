"""The Jinja2 templates of the link pages and the share e-mail, with HTML autoescape.

Callers pass plain values; the templates escape them. Values a person typed are passed through
`cards.text.clean` first, so that what is escaped is also free of disguising characters.
Undefined names fail loudly (`StrictUndefined`) instead of rendering as empty text.
Moments and sizes are passed as values and formatted by the filters `when` (UK local time with
GMT/BST, `cards.time.when`) and `size` (`cards.words.size_text`), as on the cards.
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from cards.time import when
from cards.words import size_text

_ENVIRONMENT = Environment(
    loader=PackageLoader("links", "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    keep_trailing_newline=True,  # a template renders exactly as its file reads
    auto_reload=False,
)
_ENVIRONMENT.filters["when"] = when
_ENVIRONMENT.filters["size"] = size_text


def render(name: str, **context: Any) -> str:
    """The template `name` (a file in links/templates/) rendered with `context`."""
    return _ENVIRONMENT.get_template(name).render(**context)
