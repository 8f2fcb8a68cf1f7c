"""Draw a learner's attention weights as a labelled matrix beside the reference.

Pure and terminal-sized: ``render`` returns a ``rich.text.Text`` whose lines never exceed
``width`` cells, for the TUI pane and for ``attn-tutor show``. No torch, no textual.

Layout of one matrix, in ASCII (Unicode draws the same with ``│``, ``…``, the ramp
`` ░▒▓█``, the multiplication sign for a leak and ``Σ=`` for a row sum)::

    yours                                   title
           The cat sat on  the mat          key labels, cut to 3 cells
    sat   |---!---!:::!:::x        |        query label (6 cells), 4 cells per key
    the   |+++!+++!+++!+++!---!    | sum=2.31   a row whose sum is not 1
    ...+4 rows                              query rows hidden by the window

A cell is three shade glyphs (or a 3-character number: ``.25``, ``1.0``) and one marker
slot: ``!`` differs from the reference by more than ``Style.tolerance``; ``x`` is a leak, a
weight on a masked key whose size exceeds the tolerance or is not finite (it wins over
``!``). NaN and inf draw as ``?`` instead of a shade. A learner row whose sum is more than
1e-3 from 1 ends with its sum. Only the learner's matrix is marked; the reference is drawn
as is, and without a reference only leaks and row sums are marked. Key columns that do not
fit in ``width`` are counted at the end of the label line (``...+3``).

The legend lists the scale and only the markers that appear, each with its count over the
whole matrix, including cells hidden by the window.

``render_heads`` draws every head of a multi-head picture small, as many side by side as
``width`` allows, wrapping to further rows of heads. One character per cell, the same ramp,
query and key labels cut to their first letter (the query letters go first when a head does
not fit). A head's title carries ``!`` when the head differs from the reference's head of the
same number by the rule above, and the leak marker when it leaks::

    yours, all 3 heads
    head 1      head 2 !x   head 3
      Tcsotm      Tcsotm      Tcsotm
    T|@     |   T|@     |   T|@     |
    c|++    |   c|++    |   c| @    |
    s|---   |   s|--::  |   s|  @   |
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import cache
from itertools import zip_longest

from rich.cells import cell_len, set_cell_size
from rich.color import Color
from rich.style import Style as RichStyle
from rich.text import Span, Text

from tutor.core.words import wrap_block

LABEL_WIDTH = 6  # query labels
CELL_WIDTH = 4  # three shade glyphs and one marker slot
MAX_ROWS = 16  # query rows shown at most; the rest are counted under the matrix
GAP = 3  # between side-by-side matrices
ROW_SUM_TOLERANCE = 1e-3
ZERO = 0.005  # below this a weight draws as zero: it would print as .00
SPECIAL_TOKEN = re.compile(r"^[<\[](\w+)[>\]]$")  # <pad>, [PAD], <bos>, [SEP]


@dataclass(frozen=True)
class Matrix:
    """Attention weights of one head: rows are queries, columns are keys."""

    rows: tuple[str, ...]  # query token labels, e.g. ("The", "cat", "sat", "on", "the", "mat")
    cols: tuple[str, ...]  # key token labels
    values: tuple[tuple[float, ...], ...]  # len(rows) x len(cols)
    allowed: tuple[tuple[bool, ...], ...] | None = None  # False where weight must be 0 (masked)


@dataclass(frozen=True)
class Style:
    """How to draw: character set, colour, shades or numbers, and what counts as different."""

    unicode: bool = True  # False: ASCII only (ramp " .:-=+*#%@", ASCII borders/markers)
    color: bool = True  # False: no colour at all (still readable: the ramp carries the value)
    numbers: bool = False  # True: print each weight as a number (".25", "1.0") instead of a shade
    tolerance: float = 0.02  # |learner - reference| above this marks a cell as different


@dataclass(frozen=True)
class Glyphs:
    """The characters of one character set."""

    ramp: str
    bar: str
    more: str  # before a count of hidden rows/columns
    cut: str  # ends a shortened query label
    differs: str
    leak: str
    nonfinite: str
    row_sum: str
    zero: str  # a weight of (nearly) 0: drawn, so that it never looks like missing data
    small_zero: str  # the same in a one-character cell of the all-heads overview


# The difference marker is "!", not "*", in both sets: "*" is a level of the ASCII ramp.
# The Unicode leak marker is the multiplication sign.
UNICODE_GLYPHS = Glyphs(" ░▒▓█", "│", "…", "…", "!", "\u00d7", "?", "Σ=", "·", "·")
ASCII_GLYPHS = Glyphs(" .:-=+*#%@", "|", "...", "~", "!", "x", "?", "sum=", "0", " ")

# Viridis anchors: ordered by lightness, so the scale survives colour blindness and greyscale.
_VIRIDIS = ((68, 1, 84), (59, 82, 139), (33, 145, 140), (94, 201, 98), (253, 231, 37))


def render(
    learner: Matrix | None,
    reference: Matrix | None,
    *,
    width: int,
    style: Style = Style(),
    learner_title: str = "yours",
    reference_title: str = "reference",
    problem: str = "",
) -> Text:
    """Draw ``learner`` beside (or above) ``reference`` in at most ``width`` columns."""
    if width < 1:
        return Text()
    pen = Pen(style)
    if learner is None and reference is None:
        note = "nothing to show" + (f": {problem}" if problem.strip() else "")
        return _finish(_note(note, width, pen), width)

    lines: list[Text] = []
    if learner is None:
        note = problem.strip() or "nothing captured"
        lines += [*_note(f"{learner_title}: {note}", width, pen, pen.bold), Text()]

    check = _Check.of(learner, reference, style.tolerance) if learner is not None else None
    shown = [m for m in (learner, reference) if m is not None]
    row_ends = [_row_end_width(learner, check, pen)] if learner is not None else []
    if reference is not None:
        row_ends.append(0)  # the reference carries no row flags
    n_cols = max(len(m.cols) for m in shown)

    titles = [
        t for t, m in ((learner_title, learner), (reference_title, reference)) if m is not None
    ]

    def block_widths(keys: int) -> list[int]:
        # A title wider than its matrix would run into the matrix beside it.
        return [
            max(_block_width(min(keys, len(m.cols)), len(m.cols), end, pen), cell_len(title))
            for m, end, title in zip(shown, row_ends, titles, strict=True)
        ]

    stacked = _most_keys(n_cols, lambda k: max(block_widths(k)) <= width)
    side = _most_keys(n_cols, lambda k: sum(block_widths(k)) + GAP * (len(shown) - 1) <= width)
    # Side by side is easier to compare, but never at the cost of hiding keys.
    beside = len(shown) == 2 and side == stacked
    keys = side if beside else stacked

    blocks = []
    if learner is not None:
        blocks.append(_block(learner, learner_title, keys, pen, check))
    if reference is not None:
        blocks.append(_block(reference, reference_title, keys, pen, None))
    if beside:
        left_width = block_widths(keys)[0]
        for left, right in zip_longest(*blocks):
            left = left or _Line()  # a fresh one each time: extend changes it
            left.extend(right or _Line(), left_width + GAP)
            lines.append(left.text())
    else:
        for index, block in enumerate(blocks):
            if index:
                lines.append(Text())
            lines += [line.text() for line in block]

    notes = _shape_notes(learner, reference, learner_title, reference_title)
    if notes:
        lines.append(Text())
        lines += [Text(pen.clean(note)) for note in notes]
    lines.append(Text())
    lines += _legend(check, shown, pen, width)
    return _finish(lines, width)


def render_heads(
    learner: Sequence[Matrix] | None,
    reference: Sequence[Matrix] | None,
    *,
    width: int,
    style: Style = Style(),
    selected: int | None = None,
    learner_title: str = "yours",
    reference_title: str = "reference",
    problem: str = "",
    names: Sequence[str] = (),
    notes: Sequence[str] = (),
    reference_notes: Sequence[str] = (),
) -> Text:
    """Every head of ``learner`` small, side by side in at most ``width`` columns.

    One cell per weight, shaded as in ``render`` (numbers never fit, so ``style.numbers`` is
    ignored); heads wrap to further rows. A head titled with the difference marker differs
    from the reference's head of the same number by ``render``'s rule; the leak marker says
    it puts weight on a masked key. Without a learner the reference's heads are drawn, under
    ``problem``. ``selected`` (from 0) is the head the single-head view shows, highlighted.
    ``names`` titles the heads in place of "head N"; ``notes`` (the learner's heads, or the
    reference's when they are drawn alone) and ``reference_notes`` end each head's title.
    """
    if width < 1:
        return Text()
    pen = Pen(replace(style, numbers=False))
    g = pen.glyphs
    mine, theirs = list(learner or []), list(reference or [])
    if not mine and not theirs:
        note = "nothing to show" + (f": {problem}" if problem.strip() else "")
        return _finish(_note(note, width, pen), width)

    lines: list[Text] = []
    drawn_notes = notes
    if mine:
        drawn = mine
        checks: list[_Check | None] = [
            _Check.of(m, theirs[k] if k < len(theirs) else None, style.tolerance)
            for k, m in enumerate(mine)
        ]
        heading = f"{learner_title}, all {len(mine)} heads"
    else:
        note = problem.strip() or "nothing captured"
        lines += [*_note(f"{learner_title}: {note}", width, pen, pen.bold), Text()]
        drawn, checks = theirs, [None] * len(theirs)
        drawn_notes = reference_notes
        heading = f"{reference_title}, all {len(theirs)} heads"
    lines.append(Text(pen.clean(heading), style=pen.bold))

    # The reference's heads follow the learner's, drawn the same way, to compare row by row.
    compared = theirs if mine and theirs else []
    everything = [*drawn, *compared]
    n_rows = max(len(m.rows) for m in everything)
    n_cols = max(len(m.cols) for m in everything)
    # Row labels cost a column per head: the first to go when even one head does not fit.
    label = 1 if n_cols + 3 <= width else 0
    keys = max(min(n_cols, width - label - 2), min(1, n_cols))
    rows = min(MAX_ROWS, n_rows)

    def title(k: int, check: _Check | None, chosen: bool, ends: Sequence[str]) -> _Title:
        name = names[k] if k < len(names) else ""
        return _head_title(k, check, chosen, pen, name, ends[k] if k < len(ends) else "")

    titles = [title(k, check, k == selected, drawn_notes) for k, check in enumerate(checks)]
    plain = [title(k, None, False, reference_notes) for k in range(len(compared))]
    block = max(label + keys + 2, *(sum(cell_len(p) for p, _ in t) for t in titles + plain))
    per_line = max(1, (width + GAP) // (block + GAP))

    def draw(heads: list[Matrix], named: list[_Title]) -> None:
        for first in range(0, len(heads), per_line):
            if first:
                lines.append(Text())
            group = range(first, min(first + per_line, len(heads)))
            blocks = [_small_block(heads[k], named[k], label, keys, rows, pen) for k in group]
            for parts in zip(*blocks, strict=True):
                line = _Line()
                for index, part in enumerate(parts):
                    line.extend(part, index * (block + GAP))
                lines.append(line.text())

    draw(drawn, titles)
    if compared:
        lines.append(Text())
        lines.append(Text(pen.clean(f"{reference_title}, all {len(compared)} heads"), pen.bold))
        draw(compared, plain)

    hidden = [
        Text(f"{_more(count, pen)} {what}", style=pen.dim)
        for count, what in ((n_rows - rows, "rows"), (n_cols - keys, "keys"))
        if count > 0
    ]
    if hidden:
        lines += _wrap(hidden, width)
    if mine and theirs and len(mine) != len(theirs):
        lines.append(Text())
        lines.append(
            Text(pen.clean(f"heads: {learner_title} {len(mine)}, {reference_title} {len(theirs)}"))
        )

    # The titles already say which heads: the legend only says what the markers mean.
    items = [_scale(pen, pen.glyphs.small_zero)]
    if any(c is not None and c.differs for c in checks):
        items.append(_item(g.differs, "differs from reference", pen.differs))
    if any(c is not None and c.leaks for c in checks):
        items.append(_item(g.leak, "leak: weight on a masked key", pen.leak))
    nonfinite = _nonfinite(drawn)
    if nonfinite:
        items.append(_item(g.nonfinite, f"NaN or inf ({nonfinite})", pen.nonfinite))
    lines.append(Text())
    lines += _wrap(items, width)
    return _finish(lines, width)


_Title = list[tuple[str, RichStyle | None]]


def _head_title(
    index: int, check: _Check | None, selected: bool, pen: Pen, name: str = "", note: str = ""
) -> _Title:
    """The title "head 2" (or the head's ``name``), a marker per kind of trouble the head has,
    then ``note``, as styled pieces."""
    label = pen.clean(name).strip() or f"head {index + 1}"
    pieces: _Title = [(label, pen.selected if selected else pen.bold)]
    if check is not None and (check.differs or check.leaks):
        pieces.append((" ", None))
        if check.differs:
            pieces.append((pen.glyphs.differs, pen.differs))
        if check.leaks:
            pieces.append((pen.glyphs.leak, pen.leak))
    if note.strip():
        pieces.append((" " + pen.clean(note).strip(), None))
    return pieces


def _small_block(
    m: Matrix,
    title: _Title,
    label: int,
    keys: int,
    rows: int,
    pen: Pen,
) -> list[_Line]:
    """One head at one character per cell: title, key initials, one line per query."""
    g = pen.glyphs
    heading = _Line()
    for piece, style in title:
        heading.add(piece, style)
    lines = [heading]

    header = _Line(" " * (label + 1))
    header.add("".join(_initial(c, pen) for c in m.cols[:keys]))
    lines.append(header)

    levels = len(g.ramp)
    for i in range(rows):
        line = _Line(_initial(m.rows[i], pen) if label and i < len(m.rows) else " " * label)
        line.add(g.bar, pen.dim)
        if i < len(m.rows):
            for v in _row(m, i)[:keys]:
                if math.isfinite(v):
                    level = _level(v, levels)
                    line.add(g.ramp[level] if level else g.small_zero, pen.shade(level))
                else:
                    line.add(g.nonfinite, pen.nonfinite)
            line.add(" " * (keys - min(keys, len(m.cols))))
        else:
            line.add(" " * keys)  # a head with fewer queries than the others
        line.add(g.bar, pen.dim)
        lines.append(line)
    return lines


def _initial(token: str, pen: Pen) -> str:
    """A token's first character, in exactly one cell."""
    return set_cell_size(pen.label(token)[:1], 1)


def printable(text: str, style: Style) -> str:
    """``text`` as one line of printable characters; ASCII only when ``style`` asks for it."""
    text = "".join(c if c.isprintable() else " " for c in text)
    if not style.unicode:
        text = text.encode("ascii", "replace").decode("ascii")
    return text


class Pen:
    """Glyphs and styles for one ``Style``; colour styles only when colour is on."""

    def __init__(self, style: Style) -> None:
        self.style = style
        self.glyphs = UNICODE_GLYPHS if style.unicode else ASCII_GLYPHS
        self.bold = RichStyle(bold=True)
        self.dim = RichStyle(dim=True)
        self.selected = RichStyle(bold=True, reverse=True)
        self.differs = RichStyle(bold=True, color="yellow" if style.color else None)
        self.leak = RichStyle(bold=True, color="red" if style.color else None)
        self.nonfinite = RichStyle(bold=True, color="magenta" if style.color else None)
        self.row_sum = RichStyle(bold=True, color="red" if style.color else None)

    def clean(self, text: str) -> str:
        """One line of printable text; ASCII only when the style asks for it."""
        return printable(text, self.style)

    def label(self, text: str) -> str:
        """A token label: surrounding whitespace would misalign it, and blank is unreadable."""
        return self.clean(text).strip() or ("·" if self.style.unicode else "_")

    def key_label(self, text: str) -> str:
        """A key's label in a three-cell column: a special token such as ``<pad>`` or
        ``[SEP]`` by its inner word, which the legend spells out; any other cut short."""
        label = self.label(text)
        special = SPECIAL_TOKEN.match(label)
        return set_cell_size(special.group(1) if special else label, CELL_WIDTH - 1)

    def pieces(self) -> list[tuple[str, RichStyle | None]]:
        """An unmarked cell of each ramp level, marker slot included."""
        return [(self.cell(level), self.shade(level)) for level in range(len(self.glyphs.ramp))]

    def cell(self, level: int) -> str:
        """An unmarked cell at ``level``: its shade glyphs and an empty marker slot."""
        return self.glyphs_of(level) + " "

    def glyphs_of(self, level: int) -> str:
        """Three glyphs of ``level``; zero is a centred dot, never blank."""
        if level == 0:
            return f" {self.glyphs.zero} "
        return self.glyphs.ramp[level] * (CELL_WIDTH - 1)

    def shade(self, level: int) -> RichStyle | None:
        if not self.style.color or level == 0:
            return None
        return _level_style(level, len(self.glyphs.ramp) - 1)


@cache
def _level_style(level: int, top: int) -> RichStyle:
    position = level / top * (len(_VIRIDIS) - 1)
    low = min(int(position), len(_VIRIDIS) - 2)
    part = position - low
    rgb = [round(a + (b - a) * part) for a, b in zip(_VIRIDIS[low], _VIRIDIS[low + 1], strict=True)]
    return RichStyle(color=Color.from_rgb(rgb[0], rgb[1], rgb[2]))


@dataclass
class _Check:
    """What is wrong with the learner's matrix, over every cell, hidden ones included."""

    marks: dict[tuple[int, int], str] = field(default_factory=dict)  # "differs" or "leak"
    bad_rows: dict[int, float] = field(default_factory=dict)  # row -> its sum
    differs: int = 0
    leaks: int = 0

    @classmethod
    def of(cls, learner: Matrix, reference: Matrix | None, tolerance: float) -> _Check:
        check = cls()
        mask = learner.allowed
        if mask is None and reference is not None:
            mask = reference.allowed
        for i in range(len(learner.rows)):
            row = _row(learner, i)
            total = sum(row)
            if not abs(total - 1.0) <= ROW_SUM_TOLERANCE:  # NaN fails this too
                check.bad_rows[i] = total
            allowed = _mask_row(mask, i, len(row))
            theirs = _row(reference, i)[: len(row)] if reference is not None else []
            for j, v in enumerate(row):
                if not allowed[j] and not abs(v) <= tolerance:
                    check.marks[i, j] = "leak"
                    check.leaks += 1
                elif reference is not None:
                    r = theirs[j] if j < len(theirs) else math.nan
                    if not abs(v - r) <= tolerance:  # NaN or inf on either side differs
                        check.marks[i, j] = "differs"
                        check.differs += 1
        return check


def _row(m: Matrix, i: int) -> list[float]:
    """Row ``i`` as one float per key label; what is missing or not a number is NaN."""
    n = len(m.cols)
    if i >= len(m.rows):
        return [math.nan] * n
    # A learner's bug can arrive as ragged or odd values: they draw as "?", never raise.
    try:
        row = [float(x) for x in m.values[i][:n]]
    except (IndexError, TypeError, ValueError, OverflowError):
        row = []
        for j in range(n):
            try:
                row.append(float(m.values[i][j]))
            except (IndexError, TypeError, ValueError, OverflowError):
                row.append(math.nan)
    return row + [math.nan] * (n - len(row))


def _mask_row(mask: tuple[tuple[bool, ...], ...] | None, i: int, n: int) -> list[bool]:
    """Which of ``n`` keys query ``i`` may attend to; a missing mask entry allows."""
    try:
        allowed = [bool(x) for x in mask[i][:n]] if mask is not None else []
    except (IndexError, TypeError):
        allowed = []
    return allowed + [True] * (n - len(allowed))


def _level(v: float, levels: int) -> int:
    """Ramp index of a finite weight: 0 only for (near) zero, so any real weight shows."""
    if not v > ZERO:
        return 0
    return 1 + min(levels - 2, int(min(v, 1.0) * (levels - 1)))


def _number(v: float) -> str:
    """A weight in three characters: ".25", "1.0", "2.3", " 0 "."""
    if abs(v) < ZERO:
        return " 0 "
    if 0 < v < 0.995:
        return f"{v:.2f}"[1:]
    if 0 < v < 9.95:
        return f"{v:.1f}"
    if v > 0:
        return " >9"
    if v > -0.95:
        return "-" + f"{-v:.1f}"[1:]
    if v > -9.5:
        return f"{v:.0f}".rjust(3)
    return "<-9"


def number_text(value: float) -> str:
    """A number to two decimals, as a learner reads it: "0.25", "-inf", "nan", "1e+03"."""
    if math.isnan(value):
        return "nan"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if abs(value) < ZERO:
        return "0.00"  # never "-0.00"
    return f"{value:.2f}" if abs(value) < 100 else f"{value:.0e}"


def _more(count: int, pen: Pen) -> str:
    return f"{pen.glyphs.more}+{count}"


def _row_end_width(learner: Matrix, check: _Check | None, pen: Pen) -> int:
    """Room after the right bar for the visible rows' sum flags."""
    if check is None:
        return 0
    flags = [
        1 + cell_len(pen.glyphs.row_sum + number_text(total))
        for row, total in check.bad_rows.items()
        if row < MAX_ROWS
    ]
    return max(flags, default=0)


def _block_width(keys: int, n_cols: int, row_end: int, pen: Pen) -> int:
    hidden = n_cols - keys
    header_end = 1 + len(_more(hidden, pen)) if hidden > 0 else 0
    return LABEL_WIDTH + 2 + CELL_WIDTH * keys + max(row_end, header_end)


def _most_keys(n_cols: int, fits: Callable[[int], bool]) -> int:
    """The most key columns (at least one, if there are any) for which ``fits(keys)``."""
    for keys in range(n_cols, 0, -1):
        if fits(keys):
            return keys
    return min(1, n_cols)  # too narrow for anything: one column, cropped at the end


class _Line:
    """A line built from styled pieces, made into one ``Text`` only once it is whole.

    ``Text.append`` per cell, and each ``Text`` made on the way (every one re-scans its
    string for control codes), would cost more than ``render``'s time budget. Neighbouring
    pieces in the same style share one span.
    """

    def __init__(self, text: str = "", style: RichStyle | None = None) -> None:
        self.parts: list[str] = []
        self.spans: list[Span] = []
        self.end = 0
        self.run_start = 0
        self.run_style: RichStyle | None = None
        self.add(text, style)

    def add(self, text: str, style: RichStyle | None = None) -> None:
        if style is not self.run_style:
            self._close_run()
            self.run_start, self.run_style = self.end, style
        self.parts.append(text)
        self.end += len(text)

    def extend(self, other: _Line, at_cell: int) -> None:
        """Append ``other`` so that it starts at cell ``at_cell``."""
        self.add(" " * max(0, at_cell - cell_len("".join(self.parts))))
        self._close_run()
        other._close_run()
        self.spans += [Span(s.start + self.end, s.end + self.end, s.style) for s in other.spans]
        self.parts += other.parts
        self.end += other.end
        self.run_start, self.run_style = self.end, None

    def text(self) -> Text:
        self._close_run()
        return Text("".join(self.parts), spans=list(self.spans))

    def _close_run(self) -> None:
        if self.run_style is not None and self.end > self.run_start:
            self.spans.append(Span(self.run_start, self.end, self.run_style))
        self.run_start, self.run_style = self.end, None


def _block(m: Matrix, title: str, keys: int, pen: Pen, check: _Check | None) -> list[_Line]:
    """The lines of one matrix: title, key labels, one line per visible query."""
    g = pen.glyphs
    keys = min(keys, len(m.cols))
    rows = min(MAX_ROWS, len(m.rows))
    lines = [_Line(pen.clean(title), pen.bold)]

    header = _Line(" " * (LABEL_WIDTH + 1))
    for label in m.cols[:keys]:
        # Three cells leave no room for an ellipsis: a hard cut keeps more of the word.
        header.add(pen.key_label(label) + " ")
    if len(m.cols) > keys:
        header.add(" " + " " + _more(len(m.cols) - keys, pen), pen.dim)
    lines.append(header)

    marks = check.marks if check is not None else {}
    pieces = pen.pieces()
    for i in range(rows):
        label = pen.label(m.rows[i])
        if cell_len(label) > LABEL_WIDTH:
            label = set_cell_size(label, LABEL_WIDTH - 1) + g.cut
        line = _Line(set_cell_size(label, LABEL_WIDTH))
        line.add(g.bar, pen.dim)
        for j, v in enumerate(_row(m, i)[:keys]):
            mark = marks.get((i, j)) if marks else None
            if mark is None and math.isfinite(v) and not pen.style.numbers:
                line.add(*pieces[_level(v, len(g.ramp))])  # the common case, kept cheap
            else:
                _cell(line, v, mark, pen)
        line.add(g.bar, pen.dim)
        if check is not None and i in check.bad_rows:
            line.add(" " + g.row_sum + number_text(check.bad_rows[i]), pen.row_sum)
        lines.append(line)
    if len(m.rows) > rows:
        lines.append(_Line(f"{_more(len(m.rows) - rows, pen)} rows", pen.dim))
    return lines


def _cell(line: _Line, v: float, mark: str | None, pen: Pen) -> None:
    g = pen.glyphs
    if not math.isfinite(v):
        line.add(f" {g.nonfinite} ", pen.nonfinite)
    else:
        level = _level(v, len(g.ramp))
        glyphs = _number(v) if pen.style.numbers else pen.glyphs_of(level)
        line.add(glyphs, pen.shade(level))
    if mark == "leak":
        line.add(g.leak, pen.leak)
    elif mark == "differs":
        line.add(g.differs, pen.differs)
    else:
        line.add(" ")


def _shape_notes(
    learner: Matrix | None, reference: Matrix | None, learner_title: str, reference_title: str
) -> list[str]:
    """Say so when a matrix's values and labels disagree, or the two matrices' shapes do."""
    notes = []
    for name, m in ((learner_title, learner), (reference_title, reference)):
        if m is None:
            continue
        wrong = len(m.values) != len(m.rows) or any(len(r) != len(m.cols) for r in m.values)
        if wrong:
            notes.append(f"{name}: values do not match the {len(m.rows)}x{len(m.cols)} labels")
    if learner is not None and reference is not None:
        mine, theirs = (
            (len(learner.rows), len(learner.cols)),
            (len(reference.rows), len(reference.cols)),
        )
        if mine != theirs:
            notes.append(
                f"shape: {learner_title} {mine[0]}x{mine[1]},"
                f" {reference_title} {theirs[0]}x{theirs[1]}"
            )
    return notes


def _legend(check: _Check | None, shown: list[Matrix], pen: Pen, width: int) -> list[Text]:
    """The scale, then each marker that appears with its count; wrapped between items."""
    g = pen.glyphs
    items = [_scale(pen)]
    nonfinite = _nonfinite(shown)
    if check is not None and check.differs:
        items.append(_item(g.differs, f"differs from reference ({check.differs})", pen.differs))
    if check is not None and check.leaks:
        items.append(_item(g.leak, f"leak: weight on a masked key ({check.leaks})", pen.leak))
    if check is not None and check.bad_rows:
        count = len(check.bad_rows)
        items.append(_item(g.row_sum, f"row sum is not 1 ({count})", pen.row_sum))
    if nonfinite:
        items.append(_item(g.nonfinite, f"NaN or inf ({nonfinite})", pen.nonfinite))
    for token in dict.fromkeys(c for m in shown for c in m.cols):
        short = pen.key_label(token).strip()
        if SPECIAL_TOKEN.match(pen.label(token)):
            items.append(Text(f"{short} = {pen.label(token)}"))
    return _wrap(items, width)


def _scale(pen: Pen, zero: str | None = None) -> Text:
    """What the cells mean: the ramp from 0 to 1, or how a number reads."""
    scale = Text()
    if pen.style.numbers:
        scale.append(".25 = 0.25")
    else:
        scale.append("0 [")
        for level, glyph in enumerate(pen.glyphs.ramp):
            scale.append(glyph if level else (zero or pen.glyphs.zero), style=pen.shade(level))
        scale.append("] 1")
    return scale


def _nonfinite(shown: Sequence[Matrix]) -> int:
    return sum(not math.isfinite(v) for m in shown for i in range(len(m.rows)) for v in _row(m, i))


def _wrap(items: list[Text], width: int) -> list[Text]:
    """Legend items on as few lines as fit ``width``, never breaking an item."""
    lines = [Text()]
    for item in items:
        if lines[-1].cell_len and lines[-1].cell_len + GAP + item.cell_len > width:
            lines.append(Text())
        if lines[-1].cell_len:
            lines[-1].append(" " * GAP)
        lines[-1].append_text(item)
    return lines


def _item(glyph: str, meaning: str, style: RichStyle) -> Text:
    item = Text(glyph, style=style)
    item.append(" " + meaning)
    return item


def _note(text: str, width: int, pen: Pen, style: RichStyle | None = None) -> list[Text]:
    """A sentence wrapped at words to ``width``: a note is read whole, never cut."""
    return [Text(line, style=style or "") for line in wrap_block(pen.clean(text), width, 0)]


def _finish(lines: list[Text], width: int) -> Text:
    """Join the lines, each cut to ``width`` cells and without trailing blanks."""
    for line in lines:
        line.rstrip()
        line.truncate(width, overflow="crop")
    return Text("\n").join(lines)
