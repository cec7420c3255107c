"""The text blocks of a card's JSON, in reading order (for tests that read what a card says)."""

from __future__ import annotations

from typing import Any


def text_blocks(node: Any) -> list[str]:
    """Every TextBlock's text in `node` (a card as JSON), depth first."""
    if isinstance(node, dict):
        own = [node["text"]] if node.get("type") == "TextBlock" else []
        return own + [text for value in node.values() for text in text_blocks(value)]
    if isinstance(node, list):
        return [text for item in node for text in text_blocks(item)]
    return []
