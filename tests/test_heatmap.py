"""The attention-matrix renderer: exact pictures for small cases, and limits that always hold.

Every golden picture uses "The cat sat on the mat" and the causal reference: each query
attends evenly to itself and the keys before it (rows 1, 1/2, 1/3, 1/4, 1/5, 1/6).
"""

from __future__ import annotations

import math
import time

import pytest
from rich.cells import cell_len
from rich.style import Style as RichStyle
from rich.text import Text

from tutor.core.heatmap import Matrix, Style, render

TOKENS = ("The", "cat", "sat", "on", "the", "mat")
NAN = math.nan
Rows = tuple[tuple[float, ...], ...]


def causal(n: int) -> Rows:
    """Uniform causal weights, rounded as a tensor printout would be."""
    return tuple(
        tuple(round(1 / (i + 1), 4) if j <= i else 0.0 for j in range(n)) for i in range(n)
    )


def lower_triangle(n: int) -> tuple[tuple[bool, ...], ...]:
    return tuple(tuple(j <= i for j in range(n)) for i in range(n))


def matrix(values: Rows, tokens: tuple[str, ...] = TOKENS, *, masked: bool = True) -> Matrix:
    return Matrix(tokens, tokens, values, lower_triangle(len(tokens)) if masked else None)


def replace_row(values: Rows, index: int, row: tuple[float, ...]) -> Rows:
    return tuple(row if i == index else old for i, old in enumerate(values))


def picture(*lines: str) -> str:
    return "\n".join(lines)


def colours(text: Text) -> list[str]:
    """Every colour any span of ``text`` sets, foreground or background."""
    found = []
    for span in text.spans:
        style = span.style if isinstance(span.style, RichStyle) else RichStyle.parse(span.style)
        found += [str(c) for c in (style.color, style.bgcolor) if c is not None]
    return found


REFERENCE = matrix(causal(6))


# Golden pictures ----------------------------------------------------------------------------


def test_unicode_side_by_side_when_both_fit() -> None:
    text = render(REFERENCE, REFERENCE, width=80)
    assert text.plain == picture(
        "yours                              reference",
        "       The cat sat on  the mat            The cat sat on  the mat",
        "The   │███  ·   ·   ·   ·   ·  │   The   │███  ·   ·   ·   ·   ·  │",
        "cat   │▓▓▓ ▓▓▓  ·   ·   ·   ·  │   cat   │▓▓▓ ▓▓▓  ·   ·   ·   ·  │",
        "sat   │▒▒▒ ▒▒▒ ▒▒▒  ·   ·   ·  │   sat   │▒▒▒ ▒▒▒ ▒▒▒  ·   ·   ·  │",
        "on    │▒▒▒ ▒▒▒ ▒▒▒ ▒▒▒  ·   ·  │   on    │▒▒▒ ▒▒▒ ▒▒▒ ▒▒▒  ·   ·  │",
        "the   │░░░ ░░░ ░░░ ░░░ ░░░  ·  │   the   │░░░ ░░░ ░░░ ░░░ ░░░  ·  │",
        "mat   │░░░ ░░░ ░░░ ░░░ ░░░ ░░░ │   mat   │░░░ ░░░ ░░░ ░░░ ░░░ ░░░ │",
        "",
        "0 [·░▒▓█] 1",
    )
    assert colours(text), "colour is on by default"


def test_ascii_uses_the_ten_level_ramp() -> None:
    text = render(REFERENCE, REFERENCE, width=80, style=Style(unicode=False))
    assert text.plain == picture(
        "yours                              reference",
        "       The cat sat on  the mat            The cat sat on  the mat",
        "The   |@@@  0   0   0   0   0  |   The   |@@@  0   0   0   0   0  |",
        "cat   |+++ +++  0   0   0   0  |   cat   |+++ +++  0   0   0   0  |",
        "sat   |--- --- ---  0   0   0  |   sat   |--- --- ---  0   0   0  |",
        "on    |--- --- --- ---  0   0  |   on    |--- --- --- ---  0   0  |",
        "the   |::: ::: ::: ::: :::  0  |   the   |::: ::: ::: ::: :::  0  |",
        "mat   |::: ::: ::: ::: ::: ::: |   mat   |::: ::: ::: ::: ::: ::: |",
        "",
        "0 [0.:-=+*#%@] 1",
    )
    assert text.plain.isascii()


def test_no_colour_keeps_the_same_picture_and_sets_no_colour() -> None:
    learner = matrix(replace_row(causal(6), 2, (0.4, 0.4, 0.0, 0.2, 0.0, 0.0)))
    coloured = render(learner, REFERENCE, width=80)
    plain = render(learner, REFERENCE, width=80, style=Style(color=False))
    assert plain.plain == coloured.plain
    assert colours(coloured)
    assert colours(plain) == []


def test_narrow_width_stacks_learner_above_reference() -> None:
    text = render(REFERENCE, REFERENCE, width=40)
    assert text.plain == picture(
        "yours",
        "       The cat sat on  the mat",
        "The   │███  ·   ·   ·   ·   ·  │",
        "cat   │▓▓▓ ▓▓▓  ·   ·   ·   ·  │",
        "sat   │▒▒▒ ▒▒▒ ▒▒▒  ·   ·   ·  │",
        "on    │▒▒▒ ▒▒▒ ▒▒▒ ▒▒▒  ·   ·  │",
        "the   │░░░ ░░░ ░░░ ░░░ ░░░  ·  │",
        "mat   │░░░ ░░░ ░░░ ░░░ ░░░ ░░░ │",
        "",
        "reference",
        "       The cat sat on  the mat",
        "The   │███  ·   ·   ·   ·   ·  │",
        "cat   │▓▓▓ ▓▓▓  ·   ·   ·   ·  │",
        "sat   │▒▒▒ ▒▒▒ ▒▒▒  ·   ·   ·  │",
        "on    │▒▒▒ ▒▒▒ ▒▒▒ ▒▒▒  ·   ·  │",
        "the   │░░░ ░░░ ░░░ ░░░ ░░░  ·  │",
        "mat   │░░░ ░░░ ░░░ ░░░ ░░░ ░░░ │",
        "",
        "0 [·░▒▓█] 1",
    )


def test_a_leak_onto_a_masked_key_gets_its_own_marker() -> None:
    # "sat" looks ahead at "on": the row still sums to 1, so only the leak is marked.
    learner = matrix(replace_row(causal(6), 2, (0.4, 0.4, 0.0, 0.2, 0.0, 0.0)))
    text = render(learner, None, width=40)
    assert text.plain == picture(
        "yours",
        "       The cat sat on  the mat",
        "The   │███  ·   ·   ·   ·   ·  │",
        "cat   │▓▓▓ ▓▓▓  ·   ·   ·   ·  │",
        "sat   │▒▒▒ ▒▒▒  ·  ░░░× ·   ·  │",  # noqa: RUF001 - the leak marker
        "on    │▒▒▒ ▒▒▒ ▒▒▒ ▒▒▒  ·   ·  │",
        "the   │░░░ ░░░ ░░░ ░░░ ░░░  ·  │",
        "mat   │░░░ ░░░ ░░░ ░░░ ░░░ ░░░ │",
        "",
        "0 [·░▒▓█] 1",
        "× leak: weight on a masked key (1)",  # noqa: RUF001 - the leak marker
    )


def test_a_row_that_does_not_sum_to_one_shows_its_sum() -> None:
    # No mask and no reference: the sum is the only thing to flag. Its flag takes room, so
    # at width 40 the last key is windowed out and counted ("...+1").
    learner = matrix(replace_row(causal(6), 4, (0.5, 0.5, 0.5, 0.5, 0.31, 0.0)), masked=False)
    text = render(learner, None, width=40, style=Style(unicode=False))
    assert text.plain == picture(
        "yours",
        "       The cat sat on  the   ...+1",
        "The   |@@@  0   0   0   0  |",
        "cat   |+++ +++  0   0   0  |",
        "sat   |--- --- ---  0   0  |",
        "on    |--- --- --- ---  0  |",
        "the   |+++ +++ +++ +++ --- | sum=2.31",
        "mat   |::: ::: ::: ::: ::: |",
        "",
        "0 [0.:-=+*#%@] 1",
        "sum= row sum is not 1 (1)",
    )


def test_leak_bad_row_and_differences_side_by_side() -> None:
    learner = replace_row(causal(6), 2, (0.3, 0.3, 0.2, 0.2, 0.0, 0.0))
    learner = replace_row(learner, 4, (0.5, 0.5, 0.5, 0.5, 0.31, 0.0))
    text = render(matrix(learner), REFERENCE, width=80)
    assert text.plain == picture(
        "yours                                     reference",
        "       The cat sat on  the mat                   The cat sat on  the mat",
        "The   │███  ·   ·   ·   ·   ·  │          The   │███  ·   ·   ·   ·   ·  │",
        "cat   │▓▓▓ ▓▓▓  ·   ·   ·   ·  │          cat   │▓▓▓ ▓▓▓  ·   ·   ·   ·  │",
        "sat   │▒▒▒!▒▒▒!░░░!░░░× ·   ·  │          sat   │▒▒▒ ▒▒▒ ▒▒▒  ·   ·   ·  │",  # noqa: RUF001 - the leak marker
        "on    │▒▒▒ ▒▒▒ ▒▒▒ ▒▒▒  ·   ·  │          on    │▒▒▒ ▒▒▒ ▒▒▒ ▒▒▒  ·   ·  │",
        "the   │▓▓▓!▓▓▓!▓▓▓!▓▓▓!▒▒▒! ·  │ Σ=2.31   the   │░░░ ░░░ ░░░ ░░░ ░░░  ·  │",
        "mat   │░░░ ░░░ ░░░ ░░░ ░░░ ░░░ │          mat   │░░░ ░░░ ░░░ ░░░ ░░░ ░░░ │",
        "",
        "0 [·░▒▓█] 1   ! differs from reference (8)   × leak: weight on a masked key (1)",  # noqa: RUF001 - the leak marker
        "Σ= row sum is not 1 (1)",
    )


def test_numbers_mode_prints_each_weight() -> None:
    learner = matrix(replace_row(causal(6), 2, (0.3, 0.3, 0.4, 0.0, 0.0, 0.0)))
    text = render(learner, REFERENCE, width=80, style=Style(numbers=True))
    assert text.plain == picture(
        "yours                              reference",
        "       The cat sat on  the mat            The cat sat on  the mat",
        "The   │1.0  0   0   0   0   0  │   The   │1.0  0   0   0   0   0  │",
        "cat   │.50 .50  0   0   0   0  │   cat   │.50 .50  0   0   0   0  │",
        "sat   │.30!.30!.40! 0   0   0  │   sat   │.33 .33 .33  0   0   0  │",
        "on    │.25 .25 .25 .25  0   0  │   on    │.25 .25 .25 .25  0   0  │",
        "the   │.20 .20 .20 .20 .20  0  │   the   │.20 .20 .20 .20 .20  0  │",
        "mat   │.17 .17 .17 .17 .17 .17 │   mat   │.17 .17 .17 .17 .17 .17 │",
        "",
        ".25 = 0.25   ! differs from reference (3)",
    )


def test_nan_draws_as_a_question_mark_and_counts_as_different() -> None:
    learner = matrix(replace_row(causal(6), 3, (0.25, NAN, 0.25, 0.25, 0.0, 0.0)))
    text = render(learner, REFERENCE, width=40, style=Style(unicode=False))
    assert text.plain == picture(
        "yours",
        "       The cat sat on  the mat",
        "The   |@@@  0   0   0   0   0  |",
        "cat   |+++ +++  0   0   0   0  |",
        "sat   |--- --- ---  0   0   0  |",
        "on    |---  ? !--- ---  0   0  | sum=nan",
        "the   |::: ::: ::: ::: :::  0  |",
        "mat   |::: ::: ::: ::: ::: ::: |",
        "",
        "reference",
        "       The cat sat on  the mat",
        "The   |@@@  0   0   0   0   0  |",
        "cat   |+++ +++  0   0   0   0  |",
        "sat   |--- --- ---  0   0   0  |",
        "on    |--- --- --- ---  0   0  |",
        "the   |::: ::: ::: ::: :::  0  |",
        "mat   |::: ::: ::: ::: ::: ::: |",
        "",
        "0 [0.:-=+*#%@] 1",
        "! differs from reference (1)",
        "sum= row sum is not 1 (1)",
        "? NaN or inf (1)",
    )


SENTENCE = "The cat sat on the mat and the dog lay on the rug sleeping as the sun set over town"
SENTENCE_20 = tuple(SENTENCE.split())


def test_twenty_tokens_are_windowed_at_width_80() -> None:
    # 17 of 20 keys fit; 16 queries at most. Key labels are cut to three cells ("sle"),
    # query labels to six with an ellipsis ("sleep…").
    text = render(matrix(causal(20), SENTENCE_20), None, width=80)
    assert text.plain == picture(
        "yours",
        "       The cat sat on  the mat and the dog lay on  the rug sle as  the sun   …+3",
        "The   │███  ·   ·   ·   ·   ·   ·   ·   ·   ·   ·   ·   ·   ·   ·   ·   ·  │",
        "cat   │▓▓▓ ▓▓▓  ·   ·   ·   ·   ·   ·   ·   ·   ·   ·   ·   ·   ·   ·   ·  │",
        "sat   │▒▒▒ ▒▒▒ ▒▒▒  ·   ·   ·   ·   ·   ·   ·   ·   ·   ·   ·   ·   ·   ·  │",
        "on    │▒▒▒ ▒▒▒ ▒▒▒ ▒▒▒  ·   ·   ·   ·   ·   ·   ·   ·   ·   ·   ·   ·   ·  │",
        "the   │░░░ ░░░ ░░░ ░░░ ░░░  ·   ·   ·   ·   ·   ·   ·   ·   ·   ·   ·   ·  │",
        "mat   │░░░ ░░░ ░░░ ░░░ ░░░ ░░░  ·   ·   ·   ·   ·   ·   ·   ·   ·   ·   ·  │",
        "and   │░░░ ░░░ ░░░ ░░░ ░░░ ░░░ ░░░  ·   ·   ·   ·   ·   ·   ·   ·   ·   ·  │",
        "the   │░░░ ░░░ ░░░ ░░░ ░░░ ░░░ ░░░ ░░░  ·   ·   ·   ·   ·   ·   ·   ·   ·  │",
        "dog   │░░░ ░░░ ░░░ ░░░ ░░░ ░░░ ░░░ ░░░ ░░░  ·   ·   ·   ·   ·   ·   ·   ·  │",
        "lay   │░░░ ░░░ ░░░ ░░░ ░░░ ░░░ ░░░ ░░░ ░░░ ░░░  ·   ·   ·   ·   ·   ·   ·  │",
        "on    │░░░ ░░░ ░░░ ░░░ ░░░ ░░░ ░░░ ░░░ ░░░ ░░░ ░░░  ·   ·   ·   ·   ·   ·  │",
        "the   │░░░ ░░░ ░░░ ░░░ ░░░ ░░░ ░░░ ░░░ ░░░ ░░░ ░░░ ░░░  ·   ·   ·   ·   ·  │",
        "rug   │░░░ ░░░ ░░░ ░░░ ░░░ ░░░ ░░░ ░░░ ░░░ ░░░ ░░░ ░░░ ░░░  ·   ·   ·   ·  │",
        "sleep…│░░░ ░░░ ░░░ ░░░ ░░░ ░░░ ░░░ ░░░ ░░░ ░░░ ░░░ ░░░ ░░░ ░░░  ·   ·   ·  │",
        "as    │░░░ ░░░ ░░░ ░░░ ░░░ ░░░ ░░░ ░░░ ░░░ ░░░ ░░░ ░░░ ░░░ ░░░ ░░░  ·   ·  │",
        "the   │░░░ ░░░ ░░░ ░░░ ░░░ ░░░ ░░░ ░░░ ░░░ ░░░ ░░░ ░░░ ░░░ ░░░ ░░░ ░░░  ·  │",
        "…+4 rows",
        "",
        "0 [·░▒▓█] 1",
    )


def test_no_learner_shows_the_problem_above_the_reference() -> None:
    text = render(
        None, REFERENCE, width=80, problem="nothing captured: your forward raised ValueError"
    )
    assert text.plain == picture(
        "yours: nothing captured: your forward raised ValueError",
        "",
        "reference",
        "       The cat sat on  the mat",
        "The   │███  ·   ·   ·   ·   ·  │",
        "cat   │▓▓▓ ▓▓▓  ·   ·   ·   ·  │",
        "sat   │▒▒▒ ▒▒▒ ▒▒▒  ·   ·   ·  │",
        "on    │▒▒▒ ▒▒▒ ▒▒▒ ▒▒▒  ·   ·  │",
        "the   │░░░ ░░░ ░░░ ░░░ ░░░  ·  │",
        "mat   │░░░ ░░░ ░░░ ░░░ ░░░ ░░░ │",
        "",
        "0 [·░▒▓█] 1",
    )


def test_nothing_to_show() -> None:
    assert render(None, None, width=80).plain == "nothing to show"
    assert render(None, None, width=80, problem="no run yet").plain == "nothing to show: no run yet"


# Properties ---------------------------------------------------------------------------------

ODD_LABELS = ("The", "  ", "a\nb", "extraordinarily", "猫猫猫猫", "tab\there")


def sized(n: int, labels: tuple[str, ...] = TOKENS) -> tuple[str, ...]:
    return tuple(labels[i % len(labels)] for i in range(n))


def messy(n: int) -> Matrix:
    """Causal weights with every kind of learner bug sprinkled in."""
    values = [list(row) for row in causal(n)]
    for i in range(n):
        values[i][(i * 7) % n] += 0.37  # leaks and unnormalised rows
    if n > 2:
        values[1][2] = NAN
        values[2][0] = math.inf
        values[n - 1][0] = -3.5
        values[n - 1][1] = 123456.0
    rows = tuple(tuple(row) for row in values)
    return Matrix(sized(n, ODD_LABELS), sized(n, ODD_LABELS), rows, lower_triangle(n))


@pytest.mark.parametrize("width", [1, 8, 20, 40, 63, 80, 120, 160])
@pytest.mark.parametrize("n", [0, 1, 6, 16, 20, 40])
@pytest.mark.parametrize(
    "style", [Style(), Style(unicode=False), Style(numbers=True, color=False)], ids=str
)
def test_no_line_is_wider_than_width(width: int, n: int, style: Style) -> None:
    clean = matrix(causal(n), sized(n))
    for learner, reference in [(messy(n), clean), (clean, None), (None, clean)]:
        text = render(learner, reference, width=width, style=style, problem="x" * 200)
        for line in text.plain.split("\n"):
            assert cell_len(line) <= width, (width, n, line)
        if not style.unicode:
            assert text.plain.isascii()
        if not style.color:
            assert colours(text) == []


def test_layout_prefers_side_by_side_only_when_no_key_is_lost() -> None:
    six = render(REFERENCE, REFERENCE, width=160).plain.split("\n")
    assert "reference" in six[0]
    long = matrix(causal(20), SENTENCE_20)
    at_80 = render(long, long, width=80).plain.split("\n")
    assert at_80[0] == "yours", "side by side would hide keys that stacking shows"
    at_200 = render(long, long, width=200).plain.split("\n")
    assert "reference" in at_200[0]
    assert "…" not in at_200[1], "all 20 keys fit side by side"


def test_hidden_cells_still_count_in_the_legend() -> None:
    values = replace_row(causal(20), 18, (0.5,) * 20)  # a bad row, far below the window
    text = render(matrix(values, SENTENCE_20), None, width=80).plain
    assert "Σ=" not in text.split("…+4 rows")[0]
    assert "leak: weight on a masked key (1)" in text  # on "town", the one key after it
    assert "row sum is not 1 (1)" in text


def test_broken_input_never_raises() -> None:
    ragged = Matrix(
        TOKENS,
        TOKENS,
        ((1.0,), (0.5, 0.5, 0.0, 0.0, 0.0, 0.0, 9.0), (), ("x", None, 0.1)),  # type: ignore[arg-type]
        ((True,),),
    )
    text = render(ragged, REFERENCE, width=80, style=Style(numbers=True))
    assert "yours: values do not match the 6x6 labels" in text.plain
    assert "? NaN or inf (" in text.plain
    shorter = render(matrix(causal(4), TOKENS[:4]), REFERENCE, width=80).plain.split("\n")
    assert "shape: yours 4x4, reference 6x6" in shorter
    assert shorter[6:8] == [  # the reference's last rows, beside nothing
        " " * 27 + "the   │░░░ ░░░ ░░░ ░░░ ░░░  ·  │",
        " " * 27 + "mat   │░░░ ░░░ ░░░ ░░░ ░░░ ░░░ │",
    ]
    empty = Matrix((), (), ())
    assert render(empty, empty, width=80).plain.startswith("yours")
    assert render(REFERENCE, REFERENCE, width=0).plain == ""


def test_numbers_cover_odd_values() -> None:
    values = ((1.0, 0.004, 2.34, 12.0, -0.3, -3.0), *causal(6)[1:])
    first = render(matrix(values, masked=False), None, width=80, style=Style(numbers=True))
    # 1 + 0.004 + 2.34 + 12 - 0.3 - 3 = 12.044
    assert "The   │1.0  0  2.3  >9 -.3  -3 │ Σ=12.04" in first.plain.split("\n")


def test_same_input_same_output() -> None:
    learner = messy(16)
    first = render(learner, REFERENCE, width=80)
    second = render(learner, REFERENCE, width=80)
    assert first.plain == second.plain
    assert first.spans == second.spans


def test_a_sixteen_token_pair_renders_within_five_milliseconds() -> None:
    tokens = SENTENCE_20[:16]
    learner, reference = messy(16), matrix(causal(16), tokens)
    timings = []
    for _ in range(20):
        start = time.perf_counter()
        render(learner, reference, width=160)
        timings.append(time.perf_counter() - start)
    assert min(timings) < 0.005, f"best of 20: {min(timings) * 1000:.1f} ms"


def test_a_zero_weight_is_drawn_not_left_blank() -> None:
    text = render(matrix(causal(6)), None, width=60, style=Style(color=False)).plain
    first_row = text.splitlines()[2]
    assert first_row.startswith("The   │███")
    assert first_row.count("·") == 5, "the five keys after 'The' hold a weight of 0"
    ascii_row = render(matrix(causal(6)), None, width=60, style=Style(unicode=False)).plain
    assert ascii_row.splitlines()[2].count(" 0 ") == 5


def test_special_tokens_keep_a_readable_short_form_with_a_legend() -> None:
    tokens = ("The", "cat", "<pad>", "<pad>")
    uniform = tuple(tuple(0.5 if j < 2 else 0.0 for j in range(4)) for _ in range(4))
    text = render(matrix(uniform, tokens, masked=False), None, width=60).plain
    header = text.splitlines()[1]
    assert "pad pad" in header
    assert "<pa" not in header
    assert "pad = <pad>" in text


def test_a_long_problem_is_wrapped_at_words_not_cut() -> None:
    problem = "not implemented yet: create self.query, self.key and self.value in __init__"
    text = render(None, matrix(causal(6)), width=40, problem=problem).plain
    lines = text.splitlines()
    assert all(cell_len(line) <= 40 for line in lines)
    said = " ".join(line for line in lines[:3] if line).replace("yours: ", "", 1)
    assert problem in said
