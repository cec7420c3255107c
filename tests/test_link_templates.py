"""The link site's templates: values are escaped, and a missing value is an error, not blank."""

from __future__ import annotations

import pytest
from jinja2 import UndefinedError

from links.templates import render


def test_values_are_escaped_in_html_templates() -> None:
    page = render(
        "message.html",
        title="<script>x</script>",
        text='"quoted" & <b>bold</b>',
        force="A & B <i>Police</i>",
        contact="<a href=x>us</a>",
    )
    assert "<script>x</script>" not in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page
    assert "&#34;quoted&#34; &amp; &lt;b&gt;bold&lt;/b&gt;" in page
    assert "A &amp; B &lt;i&gt;Police&lt;/i&gt;" in page
    assert "&lt;a href=x&gt;us&lt;/a&gt;" in page


def test_a_missing_value_fails_instead_of_rendering_blank() -> None:
    with pytest.raises(UndefinedError):
        render("message.html", title="Link not found")


def test_the_style_has_no_markup() -> None:
    assert "<" not in render("style.css")
