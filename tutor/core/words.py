"""Shortening text for a learner: at a word, never in the middle of one."""

from __future__ import annotations

import textwrap
import unicodedata

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


REPLACEMENT = "\ufffd"  # what stands in for a character that could drive the terminal
# Characters that reorder the text around them (bidirectional overrides and isolates).
REORDERING = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def printable(text: str) -> str:
    """``text`` with every control character replaced, line breaks and tabs kept.

    The one sanitiser for text that comes from a pack or from learner code: an escape
    sequence (a clipboard write, a title change, a screen clear) then reaches the terminal as
    visible data and does nothing.
    """
    if text.isprintable():
        return text
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return "".join(c if c in "\n\t" or shown(c) else REPLACEMENT for c in text)


def shown(c: str) -> bool:
    """A character that prints as itself: not a control, not a reordering mark."""
    return (c.isprintable() and c not in REORDERING) or unicodedata.category(c) == "Zs"
