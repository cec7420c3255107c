"""The Jinja2 templates of the link pages and the share e-mail, with HTML autoescape.

Callers pass plain values; the templates escape them. Values a person typed are passed through
`cards.text.clean` first, so that what is escaped is also free of disguising characters.
Undefined names fail loudly (`StrictUndefined`) instead of rendering as empty text.
"""

from __future__ import annotations

from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

_ENVIRONMENT = Environment(
    loader=PackageLoader("links", "templates"),
    autoescape=select_autoescape(["html"]),
    undefined=StrictUndefined,
    keep_trailing_newline=True,  # a template renders exactly as its file reads
    auto_reload=False,
)


def render(name: str, **context: Any) -> str:
    """The template `name` (a file in links/templates/) rendered with `context`."""
    return _ENVIRONMENT.get_template(name).render(**context)
