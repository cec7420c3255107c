"""The Jinja2 templates of the link pages and the share e-mail, with HTML autoescape.

Callers pass plain values; the templates escape them. Values a person typed are passed through
`cards.text.clean` first, so that what is escaped is also free of disguising characters.
Undefined names fail loudly (`StrictUndefined`) instead of rendering as empty text.
Moments and sizes are passed as values and formatted by the filters `when` (UK local time with
GMT/BST, `cards.time.when`) and `size` (`cards.words.size_text`), as on the cards.
"""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from cards.text import clean
from cards.time import when
from cards.words import size_text
from evidence.shares import Share

if TYPE_CHECKING:
    from jinja2 import Environment


@functools.cache
def _environment() -> Environment:
    # Made on first use: Jinja2 is not needed to answer `/readyz` (BENCHMARKS.md, P5).
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    environment = Environment(
        loader=PackageLoader("links", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        keep_trailing_newline=True,  # a template renders exactly as its file reads
        auto_reload=False,
    )
    environment.filters["when"] = when
    environment.filters["size"] = size_text
    return environment


def render(name: str, **context: Any) -> str:
    """The template `name` (a file in links/templates/) rendered with `context`."""
    return _environment().get_template(name).render(**context)


def officer_contact(share: Share) -> dict[str, str]:
    """Whom the recipient asks about `share`: the requesting officer's name, e-mail and phone
    as the directory had them at the request, cleaned for display ("" for what is unknown)."""
    return {
        "name": clean(share.requested_by_name),
        "email": clean(share.requester_email),
        "phone": clean(share.requester_phone),
    }
