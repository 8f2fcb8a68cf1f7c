"""The all-heads overview: every head small, side by side, a head that differs marked.

The golden pictures use three heads on "The cat sat on the mat": the reference's heads are
causal, causal and diagonal (each token attends only to itself); the learner's second head
lets "sat" look ahead at "on", so it differs from the reference and leaks.
"""

from __future__ import annotations

import math

import pytest
from rich.cells import cell_len
from rich.style import Style as RichStyle
from rich.text import Text

from tests.test_heatmap import (
    SENTENCE_20,
    TOKENS,
    causal,
    colours,
    matrix,
    messy,
    picture,
    replace_row,
    sized,
)
from tutor.core.heatmap import Matrix, Style, render_heads


def diagonal(n: int) -> tuple[tuple[float, ...], ...]:
    return tuple(tuple(1.0 if i == j else 0.0 for j in range(n)) for i in range(n))


CAUSAL = matrix(causal(6))
DIAGONAL = matrix(diagonal(6))
LEAKY = matrix(replace_row(causal(6), 2, (0.3, 0.3, 0.2, 0.2, 0.0, 0.0)))
REFERENCE = [CAUSAL, CAUSAL, DIAGONAL]
LEARNER = [CAUSAL, LEAKY, DIAGONAL]

# The widths the attention pane really has: a 110-, 120- and 160-column terminal side by side,
# and an 80-column one with the pane alone.
PANE_WIDTHS = [32, 37, 57, 74]


def spans_on(text: Text, piece: str) -> list[RichStyle]:
    """The styles of every span that covers the first occurrence of ``piece``."""
    start = text.plain.index(piece)
    found = []
    for span in text.spans:
        if span.start <= start < span.end:
            style = span.style
            found.append(style if isinstance(style, RichStyle) else RichStyle.parse(style))
    return found


# Golden pictures ----------------------------------------------------------------------------


def test_unicode_wide_puts_every_head_on_one_row() -> None:
    text = render_heads(LEARNER, REFERENCE, width=80)
    assert text.plain == picture(
        "yours, all 3 heads",
        "head 1      head 2 !×   head 3",  # noqa: RUF001 - the leak marker
        "  Tcsotm      Tcsotm      Tcsotm",
        "T│█·····│   T│█·····│   T│█·····│",
        "c│▓▓····│   c│▓▓····│   c│·█····│",
        "s│▒▒▒···│   s│▒▒░░··│   s│··█···│",
        "o│▒▒▒▒··│   o│▒▒▒▒··│   o│···█··│",
        "t│░░░░░·│   t│░░░░░·│   t│····█·│",
        "m│░░░░░░│   m│░░░░░░│   m│·····█│",
        "",
        "reference, all 3 heads",
        "head 1      head 2      head 3",
        "  Tcsotm      Tcsotm      Tcsotm",
        "T│█·····│   T│█·····│   T│█·····│",
        "c│▓▓····│   c│▓▓····│   c│·█····│",
        "s│▒▒▒···│   s│▒▒▒···│   s│··█···│",
        "o│▒▒▒▒··│   o│▒▒▒▒··│   o│···█··│",
        "t│░░░░░·│   t│░░░░░·│   t│····█·│",
        "m│░░░░░░│   m│░░░░░░│   m│·····█│",
        "",
        "0 [·░▒▓█] 1   ! differs from reference   × leak: weight on a masked key",  # noqa: RUF001
    )
    assert colours(text), "colour is on by default"


def test_ascii_uses_the_ten_level_ramp() -> None:
    text = render_heads(LEARNER, REFERENCE, width=80, style=Style(unicode=False))
    assert text.plain == picture(
        "yours, all 3 heads",
        "head 1      head 2 !x   head 3",
        "  Tcsotm      Tcsotm      Tcsotm",
        "T|@     |   T|@     |   T|@     |",
        "c|++    |   c|++    |   c| @    |",
        "s|---   |   s|--::  |   s|  @   |",
        "o|----  |   o|----  |   o|   @  |",
        "t|::::: |   t|::::: |   t|    @ |",
        "m|::::::|   m|::::::|   m|     @|",
        "",
        "reference, all 3 heads",
        "head 1      head 2      head 3",
        "  Tcsotm      Tcsotm      Tcsotm",
        "T|@     |   T|@     |   T|@     |",
        "c|++    |   c|++    |   c| @    |",
        "s|---   |   s|---   |   s|  @   |",
        "o|----  |   o|----  |   o|   @  |",
        "t|::::: |   t|::::: |   t|    @ |",
        "m|::::::|   m|::::::|   m|     @|",
        "",
        "0 [ .:-=+*#%@] 1   ! differs from reference   x leak: weight on a masked key",
    )
    assert text.plain.isascii()


def test_no_colour_keeps_the_same_picture_and_sets_no_colour() -> None:
    coloured = render_heads(LEARNER, REFERENCE, width=57)
    plain = render_heads(LEARNER, REFERENCE, width=57, style=Style(color=False))
    assert plain.plain == coloured.plain
    assert colours(coloured)
    assert colours(plain) == []


def test_narrow_pane_wraps_the_heads_to_a_second_row() -> None:
    # The pane of a 110-column terminal: two heads fit beside each other, the third wraps.
    text = render_heads(LEARNER, REFERENCE, width=32, style=Style(unicode=False))
    assert text.plain == picture(
        "yours, all 3 heads",
        "head 1      head 2 !x",
        "  Tcsotm      Tcsotm",
        "T|@     |   T|@     |",
        "c|++    |   c|++    |",
        "s|---   |   s|--::  |",
        "o|----  |   o|----  |",
        "t|::::: |   t|::::: |",
        "m|::::::|   m|::::::|",
        "",
        "head 3",
        "  Tcsotm",
        "T|@     |",
        "c| @    |",
        "s|  @   |",
        "o|   @  |",
        "t|    @ |",
        "m|     @|",
        "",
        "reference, all 3 heads",
        "head 1      head 2",
        "  Tcsotm      Tcsotm",
        "T|@     |   T|@     |",
        "c|++    |   c|++    |",
        "s|---   |   s|---   |",
        "o|----  |   o|----  |",
        "t|::::: |   t|::::: |",
        "m|::::::|   m|::::::|",
        "",
        "head 3",
        "  Tcsotm",
        "T|@     |",
        "c| @    |",
        "s|  @   |",
        "o|   @  |",
        "t|    @ |",
        "m|     @|",
        "",
        "0 [ .:-=+*#%@] 1",
        "! differs from reference",
        "x leak: weight on a masked key",
    )


def test_a_head_that_only_differs_is_marked_without_a_leak() -> None:
    # Head 3 spreads "cat" over two keys the mask allows: different, but no leak.
    spread = matrix(replace_row(diagonal(6), 1, (0.5, 0.5, 0.0, 0.0, 0.0, 0.0)))
    text = render_heads([CAUSAL, CAUSAL, spread], REFERENCE, width=57, style=Style(unicode=False))
    lines = text.plain.split("\n")
    assert lines[1] == "head 1      head 2      head 3 !"
    assert lines[4] == "c|++    |   c|++    |   c|++    |"
    assert lines[-1] == "0 [ .:-=+*#%@] 1   ! differs from reference"


def test_same_heads_as_the_reference_carry_no_marker() -> None:
    text = render_heads(REFERENCE, REFERENCE, width=57).plain
    assert "!" not in text
    assert text.split("\n")[-1] == "0 [·░▒▓█] 1"


def test_labels_go_when_a_head_does_not_fit_with_them() -> None:
    # Twenty keys need 23 columns with the query letters, 22 without.
    long = matrix(causal(20), SENTENCE_20)
    with_labels = render_heads([long], [long], width=23).plain.split("\n")
    assert with_labels[2:4] == ["  Tcsotmatdlotrsatssot", "T│█···················│"]
    without = render_heads([long], [long], width=22).plain.split("\n")
    assert without[2:4] == [" Tcsotmatdlotrsatssot", "│█···················│"]
    assert "…+4 rows" in without  # sixteen queries at most, as in the full picture


def test_keys_that_do_not_fit_are_counted() -> None:
    long = matrix(causal(20), SENTENCE_20)
    lines = render_heads([long], None, width=12).plain.split("\n")
    assert lines[2:4] == [" Tcsotmatdl", "│█·········│"]
    assert lines[-4:-2] == ["…+4 rows", "…+10 keys"]


def test_without_the_learner_the_reference_heads_are_drawn_under_the_problem() -> None:
    text = render_heads(None, REFERENCE, width=57, problem="nothing captured: not implemented")
    lines = text.plain.split("\n")
    assert lines[:4] == [
        "yours: nothing captured: not implemented",
        "",
        "reference, all 3 heads",
        "head 1      head 2      head 3",
    ]
    assert lines[-1] == "0 [·░▒▓█] 1"


def test_a_different_number_of_heads_is_said() -> None:
    text = render_heads(LEARNER[:2], REFERENCE, width=57).plain
    assert "heads: yours 2, reference 3" in text.split("\n")


def test_nan_draws_as_a_question_mark() -> None:
    broken = matrix(replace_row(causal(6), 3, (0.25, math.nan, 0.25, 0.25, 0.0, 0.0)))
    text = render_heads([broken], [CAUSAL], width=40, style=Style(unicode=False)).plain
    assert "o|-?--  |" in text.split("\n")
    assert "? NaN or inf (1)" in text


def test_the_selected_head_is_highlighted() -> None:
    text = render_heads(LEARNER, REFERENCE, width=57, selected=2)
    assert any(style.reverse for style in spans_on(text, "head 3"))
    assert not any(style.reverse for style in spans_on(text, "head 1"))


def test_numbers_style_still_draws_shades() -> None:
    shades = render_heads(LEARNER, REFERENCE, width=57)
    numbers = render_heads(LEARNER, REFERENCE, width=57, style=Style(numbers=True))
    assert numbers.plain == shades.plain


# Properties ---------------------------------------------------------------------------------


@pytest.mark.parametrize("width", [1, 5, 9, 20, *PANE_WIDTHS, 80, 160])
@pytest.mark.parametrize("n", [0, 1, 6, 20])
@pytest.mark.parametrize("count", [1, 3, 8])
@pytest.mark.parametrize(
    "style", [Style(), Style(unicode=False), Style(color=False)], ids=["unicode", "ascii", "plain"]
)
def test_no_line_is_wider_than_width(width: int, n: int, count: int, style: Style) -> None:
    clean = matrix(causal(n), sized(n))
    learner = [messy(n) if k % 2 else clean for k in range(count)]
    for mine, theirs in [(learner, [clean] * count), (learner, None), (None, [clean] * count)]:
        text = render_heads(mine, theirs, width=width, style=style, problem="x" * 200)
        for line in text.plain.split("\n"):
            assert cell_len(line) <= width, (width, n, line)
        if not style.unicode:
            assert text.plain.isascii()
        if not style.color:
            assert colours(text) == []


@pytest.mark.parametrize("width", PANE_WIDTHS)
def test_every_head_keeps_its_shape_at_pane_widths(width: int) -> None:
    """No wrapping into garbage: every grid line is whole heads, each a bar, cells, a bar."""
    heads = [matrix(causal(9), sized(9))] * 4
    lines = render_heads(heads, heads, width=width, style=Style(unicode=False)).plain.split("\n")
    grid = [line for line in lines if line.count("|") >= 2]
    # A head is 12 columns wide (letter, bar, nine cells, bar), the next one 3 further on.
    blocks = [line[start : start + 12] for line in grid for start in range(0, len(line), 15)]
    assert len(blocks) == 2 * 4 * 9, "nine query rows of the four heads, yours and the reference's"
    for block in blocks:
        assert (block[1], block[-1]) == ("|", "|"), (width, block)
    assert all(len(line) in (12, 27, 42, 57) for line in grid)


def test_nothing_to_show() -> None:
    assert render_heads(None, None, width=80).plain == "nothing to show"
    assert render_heads([], [], width=80, problem="no run").plain == "nothing to show: no run"
    assert render_heads(REFERENCE, REFERENCE, width=0).plain == ""


def test_odd_labels_keep_one_cell_each() -> None:
    odd = ("猫", "", " x", "é", "\t", "z")
    head = Matrix(odd, odd, causal(6))
    lines = render_heads([head], None, width=40, style=Style(unicode=False)).plain.split("\n")
    assert all(cell_len(line) == 9 for line in lines[3:9]), lines
    assert TOKENS  # the shared fixtures stay in use
