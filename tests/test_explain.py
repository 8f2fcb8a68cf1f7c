"""The worked example as text: every line fits, numbers read plainly, the first difference
is marked, and text from learner code stays data."""

from __future__ import annotations

import pytest

from tests.builders import numbers, unscaled
from tutor.core.explain import NO_LEARNER_STEP, explain, plain
from tutor.core.heatmap import Style
from tutor.core.protocol import Example, NamedNumbers, Numbers, Stage


def lines_of(text: str, start: str) -> list[str]:
    """The lines of the stage whose heading starts with ``start``, up to the next blank-led
    heading."""
    lines = text.splitlines()
    first = next(k for k, line in enumerate(lines) if line.startswith(start))
    end = next(
        (k for k in range(first + 1, len(lines)) if lines[k - 1] == "" and ":" in lines[k]),
        len(lines),
    )
    return lines[first:end]


@pytest.mark.parametrize("width", [80, 60, 40])
def test_every_line_fits_the_width(width: int) -> None:
    for unicode in (True, False):
        text = plain(unscaled(), width=width, unicode=unicode)
        assert all(len(line) <= width for line in text.splitlines()), text


def test_at_80_columns_yours_stands_beside_the_reference() -> None:
    text = plain(unscaled(), width=80)
    weights = lines_of(text, "weights")
    assert "yours (1, 2, 2)" in weights[1]
    assert "reference (1, 2, 2)" in weights[1]
    # The learner's row, its differing cells marked, beside the reference's row.
    assert any("0.27! 0.73!" in line and "0.33  0.67" in line for line in weights)


def test_at_60_columns_the_long_call_wraps_and_the_matrices_still_fit() -> None:
    example = unscaled()
    wide = [[float(j) for j in range(6)] for _ in range(2)]
    long = Example(
        run_id=1,
        call="MultiHeadAttention(n_embd=6, n_head=2, dropout=0.0, bias=False)(x, mask=mask)",
        stages=[Stage("output", numbers(wide), numbers(wide))],
        summary=example.summary,
    )
    text = plain(long, width=60)
    assert all(len(line) <= 60 for line in text.splitlines()), text
    assert "mask=mask)" in text  # wrapped, not cut
    output = lines_of(text, "output")
    # Six columns of two matrices do not fit side by side in 60: one under the other.
    assert not any("yours" in line and "reference" in line for line in output)
    assert any(line.startswith("reference") for line in output)


def test_the_first_difference_is_marked_and_a_missing_step_is_said() -> None:
    text = plain(unscaled(), width=80)
    scaled = lines_of(text, "scaled")
    assert scaled[0].endswith("← first difference")
    assert NO_LEARNER_STEP in "\n".join(scaled)
    assert "first difference" not in "\n".join(lines_of(text, "scores"))
    assert lines_of(text, "weights")[0].endswith("← differs")
    ascii_text = plain(unscaled(), width=80, unicode=False)
    assert lines_of(ascii_text, "scaled")[0].endswith("<- first difference")
    assert ascii_text.isascii()


def test_infinities_and_nan_are_written_as_such() -> None:
    text = plain(unscaled(), width=80)
    masked = "\n".join(lines_of(text, "masked"))
    assert "1.00! -inf" in masked  # -inf equals -inf: not marked
    output = "\n".join(lines_of(text, "output"))
    assert "nan!" in output


def test_numbers_are_rounded_to_two_decimals() -> None:
    example = Example(
        run_id=1,
        call="f(x)",
        inputs=[NamedNumbers("x", Numbers([3], [0.123456, -0.0001, 12.5]))],
    )
    text = plain(example, width=80)
    assert " 0.12   0.00  12.50" in text
    assert "-0.00" not in text


def test_four_dimensional_weights_show_one_titled_matrix_per_head() -> None:
    mine = [[[[0.5, 0.5], [0.2, 0.8]], [[1.0, 0.0], [0.4, 0.6]]]]
    theirs = [[[[0.5, 0.5], [0.2, 0.8]], [[0.9, 0.1], [0.4, 0.6]]]]
    example = Example(
        run_id=1,
        call="MultiHeadAttention(n_embd=2, n_head=2)(x)",
        stages=[
            Stage(
                "weights",
                Numbers([1, 2, 2, 2], mine),
                Numbers([1, 2, 2, 2], theirs),
                differs=True,
            )
        ],
        first_difference="weights",
    )
    text = plain(example, width=80)
    assert "yours [0, 0] of (1, 2, 2, 2)" in text
    head_two = [line for line in text.splitlines() if "yours [0, 1]" in line]
    assert head_two
    assert "reference [0, 1]" in head_two[0]
    # Only head 2's first row differs, and only there are cells marked.
    marked = [line for line in text.splitlines() if "!" in line]
    assert len(marked) == 2  # that row, and the legend
    assert "1.00! 0.00!" in marked[0]
    assert "0.90  0.10" in marked[0]


def test_text_from_learner_code_is_never_markup_nor_escapes() -> None:
    example = Example(
        run_id=1,
        call="[bold red]Evil[/]\x1b]52;c;aGk=\x07(x)",
        summary="[link=http://x]click[/link]",
    )
    text = explain(example, width=80, style=Style(color=True))
    assert "[bold red]Evil[/]" in text.plain
    assert "\x1b" not in text.plain
    assert "\x07" not in text.plain
    assert "[link=http://x]click[/link]" in text.plain


def test_ragged_values_draw_as_question_marks() -> None:
    example = Example(
        run_id=1,
        call="f(x)",
        stages=[Stage("output", Numbers([2, 2], [[1.0], "x"]), Numbers([2, 2], [[1, 2], [3, 4]]))],
    )
    text = plain(example, width=80)
    assert "?" in text


def test_a_huge_claimed_shape_is_drawn_in_part_and_at_once() -> None:
    # The shape is the worker's word for it; the drawing never walks more than it shows.
    huge = Numbers([10**6, 10**6, 10**6, 10**6], [[[[1.0]]]])
    example = Example(
        run_id=1,
        call="f(x)",
        stages=[Stage("output", huge, huge, differs=True)],
        first_difference="output",
    )
    text = plain(example, width=80)
    assert "more of yours" in text
    assert all(len(line) <= 80 for line in text.splitlines())


def test_a_failing_run_points_at_its_example_on_the_line_of_counts() -> None:
    """The failure keeps the lines it needs at 80x24; the example's key rides on the counts."""
    from tutor.core.protocol import Outcome, RunFinished, TestOutcome, Verdict
    from tutor.core.report import RunReport
    from tutor.ui.widgets.results import EXPLAIN_KEY, EXPLAIN_SHORT, render_summary

    def summary(verdict: Verdict) -> list[str]:
        report = RunReport()
        report.add(TestOutcome(run_id=1, name="test_a", outcome=Outcome.FAILED, message="why"))
        report.add(TestOutcome(run_id=1, name="test_b", outcome=Outcome.FAILED))
        report.add(TestOutcome(run_id=1, name="test_c"))
        report.add(RunFinished(run_id=1, verdict=verdict, passed=1, failed=2, total=3))
        report.add(unscaled())
        return render_summary(report, "problem.py", 76).plain.splitlines()

    failed = summary(Verdict.FAILED)
    assert EXPLAIN_KEY not in failed
    (counts,) = [line for line in failed if "passing" in line]
    assert counts.endswith(EXPLAIN_SHORT)
    assert len(counts) <= 76
    assert EXPLAIN_KEY in summary(Verdict.DIFFERS)
