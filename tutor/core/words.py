"""Shortening text for a learner: at a word, never in the middle of one."""

from __future__ import annotations

import textwrap

ELLIPSIS = "…"


def cut_at_word(text: str, limit: int) -> str:
    """``text`` if it fits in ``limit`` characters, else its longest start that ends at a
    word boundary, followed by an ellipsis (a single longer word is cut as a last resort)."""
    if len(text) <= limit:
        return text
    room = max(1, limit - len(ELLIPSIS))
    head = text[:room]
    if not text[room].isspace():
        boundary = max(head.rfind(" "), head.rfind("\n"))
        if boundary > room // 2:
            head = head[:boundary]
    return head.rstrip() + ELLIPSIS


def wrap_block(text: str, width: int, indent: int = 2) -> list[str]:
    """``text`` wrapped at words to ``width`` columns, every line indented by ``indent``;
    its own line breaks are kept, and a word longer than a line is broken, never lost."""
    room = max(8, width - indent)
    pad = " " * indent
    lines: list[str] = []
    for paragraph in text.splitlines() or [""]:
        wrapped = textwrap.wrap(
            paragraph, room, break_long_words=True, break_on_hyphens=False, drop_whitespace=True
        )
        lines.extend(pad + line for line in wrapped or [""])
    return lines
