"""Text is shortened at words and wrapped at words, never cut in the middle of one."""

from __future__ import annotations

from tutor.core.words import cut_at_word, wrap_block
from tutor.ui.screen import status_line

GQA = (
    "the keys of each group should be shared by its query heads: use repeat_interleave on "
    "the head axis, not repeat, which interleaves the groups"
)


def test_a_short_text_is_left_alone() -> None:
    assert cut_at_word("row 0 sums to 2.66", 40) == "row 0 sums to 2.66"


def test_a_long_text_ends_at_a_word_with_an_ellipsis() -> None:
    cut = cut_at_word(GQA, 90)
    assert len(cut) <= 90
    assert cut.endswith("…")
    assert GQA.startswith(cut[:-1])
    assert GQA[len(cut) - 1] == " ", "the cut falls between two words"


def test_wrapping_keeps_every_word_and_the_indent() -> None:
    lines = wrap_block(GQA, 40, indent=2)
    assert all(len(line) <= 40 and line.startswith("  ") for line in lines)
    assert " ".join(line.strip() for line in lines) == GQA
    assert "not repeat," in " ".join(lines), "the point of the message survives"


def test_wrapping_keeps_the_messages_own_lines() -> None:
    assert wrap_block("first\nsecond", 30, indent=0) == ["first", "second"]


def test_a_word_longer_than_the_line_is_broken_not_lost() -> None:
    lines = wrap_block("x" * 30, 12, indent=0)
    assert "".join(lines) == "x" * 30


def test_the_status_line_fits_and_keeps_the_run_state() -> None:
    label = "02 Attention basics: queries, keys and values"
    state = "last run 12:00:00 (0.25 s)"
    path = "~/attn-tutor/02-attention-basics/problem.py"
    short = "02-attention-basics/problem.py"
    wide = status_line(160, label, state, path, short)
    assert path in wide
    assert state in wide
    narrow = status_line(80, label, state, path, short)
    assert len(narrow) <= 78
    assert narrow.rstrip().endswith(state)
    tiny = status_line(60, label, state, path, short)
    assert len(tiny) <= 58
    assert state in tiny
    assert "…" in tiny
