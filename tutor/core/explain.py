"""The worked example as text: the smallest input where the learner's code and the reference
part ways, and each step of attention on it, the learner's numbers beside the reference's.

Pure and terminal-sized, like ``heatmap``: ``explain`` returns a ``rich.text.Text`` whose
lines never exceed ``width`` cells, for the app's view, ``attn-tutor explain`` and nothing
else. No torch, no textual. Every string of the example came from learner code or a pack:
it is drawn as data, never read as markup.

One stage, in ASCII (``--`` and the arrow are Unicode otherwise)::

    weights: softmax(masked)  <- first difference
    yours                   reference
        0     1                 0     1
    0 | 0.50! 0.50!         0 | 1.00  0.00
    1 | 0.27  0.73          1 | 0.27  0.73

A value of three or more dimensions (batch, heads) is drawn as one small matrix per leading
index, titled with it: ``yours [0, 1]`` is batch 0, head 1. A cell is marked with the
difference glyph where the learner's number is not the reference's, in a stage the example
says differs.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import islice, product, zip_longest
from typing import Any

from rich.cells import cell_len
from rich.style import Style as RichStyle
from rich.text import Text

from tutor.core.heatmap import GAP, Pen, Style, number_text
from tutor.core.picture import arrow
from tutor.core.protocol import Example, Numbers, Stage, Verdict
from tutor.core.report import RunReport
from tutor.core.words import wrap_block

MAX_ROWS = 12  # rows of one matrix shown at most; the rest are counted under it
MAX_COLS = 40  # columns looked at, at most: more never fit in a terminal
MAX_BLOCKS = 8  # leading indices (heads, batches) drawn at most per side and stage
# Beyond what rounding to two decimals shows: a cell is marked only when the numbers differ
# for real, and a stage the example says differs always has some.
CELL_TOLERANCE = 1e-4

# What each step computes, in the lesson's terms.
MEANINGS = {
    "scores": "q @ k^T",
    "scaled": "scores / sqrt(d)",
    "masked": "masked positions set to -inf",
    "weights": "softmax over the keys",
    "output": "weights @ v",
}
FIRST_DIFFERENCE = "first difference"
NO_LEARNER_STEP = "(no such step in your code)"
NO_REFERENCE_STEP = "(no such step in the reference)"


def explain(example: Example, *, width: int = 80, style: Style | None = None) -> Text:
    """The example worked through in at most ``width`` columns: the call, the inputs, each
    stage (yours beside the reference when both fit, else one under the other; the first
    difference marked). The summary comes right after the call."""
    style = style or Style()
    pen = _Pen(style)
    width = max(20, width)
    lines: list[Text] = []
    call = pen.clean(example.call) or "the call"
    lines += _sentence(f"the smallest input found: {call}", width, pen, pen.bold)
    if example.shrunk_from.strip():
        lines += _sentence(f"shrunk from {pen.clean(example.shrunk_from)}", width, pen, pen.dim)
    if example.summary.strip():
        # First, so that at 80x24 the finding is on screen before any matrix.
        lines += _sentence(pen.clean(example.summary), width, pen, pen.bold)

    if example.inputs:
        lines += [Text(), Text("inputs", style=pen.bold)]
        for named in example.inputs:
            blocks = _blocks(named.numbers, pen.clean(named.name) or "input", None, pen, width)
            lines += _stacked(blocks)

    for stage in example.stages:
        lines.append(Text())
        lines += _stage(stage, stage.name == example.first_difference, width, pen)

    if pen.marked:
        lines.append(Text())
        legend = Text(pen.glyphs.differs, style=pen.differs)
        legend.append(" your number differs from the reference's")
        lines.append(legend)
    for line in lines:
        line.rstrip()
        line.truncate(width, overflow="crop")
    return Text("\n").join(lines)


AGREE = "your code and the reference agree on every input the tests used"
NO_REFERENCE = "there is no reference solution for this exercise"


def missing(report: RunReport | None, *, has_reference: bool) -> str:
    """Why there is no example to show, in one line: the one wording for the app and the CLI."""
    if not has_reference:
        return NO_REFERENCE
    if report is None:
        return "there has been no run yet"
    finished = report.finished
    if finished is None:
        return "the tests are still running"
    if finished.verdict is Verdict.PASSED:
        return AGREE
    if finished.verdict is Verdict.DIFFERS:
        return "your code differs from the reference, but no worked example came with the run"
    return f"the example comes once every test passes; now: {report.headline()}"


def plain(example: Example, *, width: int = 80, unicode: bool = True) -> str:
    """``explain`` as plain text, without colour."""
    return explain(example, width=width, style=Style(unicode=unicode, color=False)).plain


class _Pen(Pen):
    """The heatmap's pen, with the mark of the first difference and a count of marked cells."""

    def __init__(self, style: Style) -> None:
        super().__init__(style)
        self.first = self.leak  # the same red as a leak: where attention goes wrong
        self.marked = 0  # cells marked as differing so far

    def clean(self, text: str) -> str:
        return super().clean(text).strip()


def _sentence(text: str, width: int, pen: _Pen, style: RichStyle | None = None) -> list[Text]:
    """A sentence wrapped at words: read whole, never cut."""
    return [Text(line, style=style or "") for line in wrap_block(text, width, indent=0)]


def _heading(stage: Stage, first: bool, width: int, pen: _Pen) -> Text:
    """The stage's name and what it computes, then the mark of a difference; the meaning
    gives way before the mark does."""
    name = pen.clean(stage.name) or "step"
    meaning = MEANINGS.get(stage.name, "")
    mark, style = "", None
    if first:
        mark, style = f"  {arrow(pen.style)} {FIRST_DIFFERENCE}", pen.first
    elif stage.differs:
        mark, style = f"  {arrow(pen.style)} differs", pen.differs
    title = f"{name}: {meaning}" if meaning else name
    if cell_len(title + mark) > width:
        title = name
    heading = Text(title, style=pen.bold)
    heading.append(mark, style=style)
    return heading


def _stage(stage: Stage, first: bool, width: int, pen: _Pen) -> list[Text]:
    """A stage's heading, then its two sides."""
    lines = [_heading(stage, first, width, pen)]

    marks = _compared(stage) if stage.differs else None
    mine = (
        _blocks(stage.learner, "yours", marks, pen, width)
        if stage.learner is not None
        else [_Block.note("yours", NO_LEARNER_STEP, pen)]
    )
    theirs = (
        _blocks(stage.reference, "reference", None, pen, width)
        if stage.reference is not None
        else [_Block.note("reference", NO_REFERENCE_STEP, pen)]
    )
    beside = all(
        a.width + GAP + b.width <= width
        for a, b in zip_longest(mine, theirs, fillvalue=_Block([], 0))
    )
    if beside:
        for a, b in zip_longest(mine, theirs, fillvalue=_Block([], 0)):
            lines += _side_by_side(a, b)
    else:
        lines += [*_stacked(mine), Text(), *_stacked(theirs)]
    if (
        stage.learner is not None
        and stage.reference is not None
        and list(stage.learner.shape) != list(stage.reference.shape)
    ):
        lines.append(
            Text(
                f"shapes differ: yours {_shape(stage.learner)}, "
                f"reference {_shape(stage.reference)}",
                style=pen.differs,
            )
        )
    return lines


@dataclass
class _Block:
    """A titled matrix (or a note), as lines of text, and its width in cells."""

    lines: list[Text]
    width: int

    @classmethod
    def note(cls, title: str, text: str, pen: _Pen) -> _Block:
        lines = [Text(title, style=pen.bold), Text(text, style=pen.dim)]
        return cls(lines, max(line.cell_len for line in lines))


def _side_by_side(left: _Block, right: _Block) -> list[Text]:
    lines = []
    for a, b in zip_longest(left.lines, right.lines, fillvalue=Text()):
        line = a.copy()
        line.append(" " * (left.width + GAP - a.cell_len))
        line.append_text(b)
        lines.append(line)
    return lines


def _stacked(blocks: list[_Block]) -> list[Text]:
    lines: list[Text] = []
    for block in blocks:
        lines += block.lines
    return lines


def _shape(numbers: Numbers) -> str:
    return "(" + ", ".join(str(n) for n in numbers.shape) + ")"


def _compared(stage: Stage) -> Numbers | None:
    """The reference's numbers to mark the learner's cells against; None when the two
    cannot be compared cell by cell (a side is missing, or the shapes differ)."""
    if stage.learner is None or stage.reference is None:
        return None
    if list(stage.learner.shape) != list(stage.reference.shape):
        return None
    return stage.reference


def _same(a: float, b: float) -> bool:
    if math.isnan(a) or math.isnan(b):
        return math.isnan(a) and math.isnan(b)
    if math.isinf(a) or math.isinf(b):
        return a == b
    return abs(a - b) <= CELL_TOLERANCE * (1 + abs(b))


def _at(values: Any, index: tuple[int, ...]) -> Any:
    """``values[i][j]…``, or None where learner code sent something ragged or odd."""
    for i in index:
        if not isinstance(values, list) or i >= len(values):
            return None
        values = values[i]
    return values


def _number(value: Any) -> float:
    """A cell's value as a float; what is not a number is NaN."""
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    return math.nan


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "T" if value else "F"
    if isinstance(value, int | float):
        return number_text(float(value))
    return "?"


def _leading(shape: list[int]) -> Iterator[tuple[int, ...]]:
    """Every index of the dimensions before the last two."""
    return product(*(range(max(0, n)) for n in shape[:-2]))


def _blocks(
    numbers: Numbers, title: str, marks: Numbers | None, pen: _Pen, room: int
) -> list[_Block]:
    """One block per leading index (one block for up to two dimensions)."""
    shape = [n for n in numbers.shape if isinstance(n, int)]
    if len(shape) <= 2 or math.prod(shape[:-2]) == 1:
        # A batch of one (and one head) is drawn as the matrix it is.
        lead = (0,) * (len(shape) - 2) if len(shape) > 2 else ()
        values = _at(numbers.values, lead)
        title = f"{title} {_shape(numbers)}"
        return [_matrix(values, shape[-2:], lead, title, marks, pen, room)]
    blocks: list[_Block] = []
    indices = list(islice(_leading(shape), MAX_BLOCKS + 1))
    total = math.prod(max(0, n) for n in shape[:-2])
    for index in indices[:MAX_BLOCKS]:
        label = f"{title} [{', '.join(str(i) for i in index)}]"
        if not blocks:
            label += f" of {_shape(numbers)}"
        part = _at(numbers.values, index)
        blocks.append(_matrix(part, shape[-2:], index, label, marks, pen, room))
    if total > MAX_BLOCKS:
        more = f"{pen.glyphs.more}+{total - MAX_BLOCKS} more of {title}"
        blocks.append(_Block([Text(more, style=pen.dim)], cell_len(more)))
    return blocks


def _matrix(
    values: Any,
    shape: list[int],
    lead: tuple[int, ...],
    title: str,
    marks: Numbers | None,
    pen: _Pen,
    room: int,
) -> _Block:
    """A titled matrix: column numbers, then one labelled row per index of the first axis.

    A scalar is one cell and a vector one row; numbers are right-aligned, each followed by
    a slot for the difference marker. Columns that do not fit in ``room`` are counted.
    """
    if len(shape) == 0:
        grid, rows, cols = [[values]], 1, 1
    elif len(shape) == 1:
        grid = [[_at(values, (j,)) for j in range(min(shape[0], MAX_COLS))]]
        rows, cols = 1, shape[0]
    else:
        rows, cols = shape
        grid = [
            [_at(values, (i, j)) for j in range(min(cols, MAX_COLS))]
            for i in range(min(rows, MAX_ROWS))
        ]

    def full(i: int, j: int) -> tuple[int, ...]:
        if len(shape) == 0:
            return lead
        if len(shape) == 1:
            return (*lead, j)
        return (*lead, i, j)

    cells = [[_cell(v) for v in row] for row in grid]
    cell = max([1, *(len(c) for row in cells for c in row), len(str(max(0, cols - 1)))])
    label = len(str(max(0, rows - 1))) if len(shape) == 2 else 0
    bar = pen.glyphs.bar
    lead_in = f"{' ' * label} {bar} " if label else ""
    more = len(f"{pen.glyphs.more}+{cols}") + 1
    shown = min(cols, MAX_COLS)
    while (
        shown > 1 and cell_len(lead_in) + shown * (cell + 2) + (more if shown < cols else 0) > room
    ):
        shown -= 1
    hidden = cols - shown
    header = Text(" " * cell_len(lead_in))
    header.append("  ".join(str(j).rjust(cell) for j in range(shown)) + " ", style=pen.dim)
    if hidden:
        header.append(f" {pen.glyphs.more}+{hidden}", style=pen.dim)
    lines = [Text(title, style=pen.bold)]
    if len(shape) >= 1:
        lines.append(header)
    for i, row in enumerate(cells):
        line = Text()
        if label:
            line.append(str(i).rjust(label) + " ")
            line.append(bar, style=pen.dim)
            line.append(" ")
        for j, text in enumerate(row[:shown]):
            line.append(text.rjust(cell))
            theirs = _at(marks.values, full(i, j)) if marks is not None else None
            if marks is not None and not _same(_number(grid[i][j]), _number(theirs)):
                pen.marked += 1
                line.append(pen.glyphs.differs, style=pen.differs)
            else:
                line.append(" ")
            if j + 1 < shown:
                line.append(" ")
        lines.append(line)
    if len(shape) == 2 and rows > MAX_ROWS:
        lines.append(Text(f"{pen.glyphs.more}+{rows - MAX_ROWS} rows", style=pen.dim))
    return _Block(lines, max(line.cell_len for line in lines))
