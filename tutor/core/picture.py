"""Turn a probe result into the attention picture: the same text in the app and in a shell."""

from __future__ import annotations

from rich.cells import cell_len, set_cell_size
from rich.text import Text

from tutor.core.heatmap import Matrix, Style, printable, render, render_heads
from tutor.core.protocol import HeadScore, ProbeResult
from tutor.core.words import wrap_block

GUTTER = 2  # between the trace's columns


def heads(probe: ProbeResult) -> int:
    """How many heads the picture can cycle through."""
    return max(len(probe.learner or []), len(probe.reference or []), 1)


def head_name(probe: ProbeResult, head: int) -> str:
    """The probe's name of head ``head`` (from 0), else "head N"."""
    names = probe.head_names
    name = names[head].strip() if head < len(names) else ""
    return name or f"head {head + 1}"


def head_roles(scores: list[HeadScore], count: int) -> list[str]:
    """Per head, the jobs it does with their scores ("prev-token 0.95"), or ""."""
    return [
        ", ".join(f"{s.role} {s.score:.2f}" for s in scores if s.head == head and s.named)
        for head in range(count)
    ]


def head_matrix(
    probe: ProbeResult, values: list[list[list[float]]] | None, head: int
) -> Matrix | None:
    """Head ``head`` (wrapping around) of ``values`` as a labelled matrix; None without values."""
    if not values:
        return None
    chosen = values[head % len(values)]
    return Matrix(
        rows=tuple(probe.queries),
        cols=tuple(probe.keys),
        values=tuple(tuple(row) for row in chosen),
        allowed=tuple(tuple(row) for row in probe.allowed) if probe.allowed else None,
    )


def head_matrices(probe: ProbeResult, values: list[list[list[float]]] | None) -> list[Matrix]:
    """Every head of ``values``, in order."""
    found = [head_matrix(probe, values, head) for head in range(len(values or []))]
    return [m for m in found if m is not None]


def picture(
    probe: ProbeResult,
    *,
    width: int,
    head: int | None = None,
    style: Style | None = None,
    reference_only: bool = False,
    all_heads: bool = False,
) -> Text:
    """The learner's weights beside the reference, with the diagnosis above and the trace under.

    One head (``head``, from 0; the first when None) in full, or with ``all_heads`` every
    head small, side by side, ``head`` highlighted among them.
    """
    style = style or Style()
    count = heads(probe)
    problem = probe.problem if not reference_only else ""
    if all_heads:
        chosen = None if head is None else head % count
        if reference_only:
            mine, theirs = head_matrices(probe, probe.reference), None
        else:
            mine, theirs = (
                head_matrices(probe, probe.learner),
                head_matrices(probe, probe.reference),
            )
        text = render_heads(
            mine,
            theirs,
            width=width,
            style=style,
            selected=chosen,
            learner_title="reference" if reference_only else "yours",
            problem=problem,
            names=[head_name(probe, k) for k in range(count)] if probe.head_names else [],
            notes=[] if reference_only else head_roles(probe.head_scores, count),
            reference_notes=head_roles(probe.reference_head_scores, count),
        )
    else:
        head = (head or 0) % count
        suffix = ""
        if count > 1:
            named = f"{head_name(probe, head)}, " if probe.head_names else ""
            suffix = f" ({named}head {head + 1} of {count})"
        mine_roles = head_roles(probe.head_scores, count)[head]
        their_roles = head_roles(probe.reference_head_scores, count)[head]
        learner = None if reference_only else head_matrix(probe, probe.learner, head)
        text = render(
            learner,
            head_matrix(probe, probe.reference, head),
            width=width,
            style=style,
            learner_title=f"yours{suffix}" + (f": {mine_roles}" if mine_roles else ""),
            reference_title=f"reference{suffix}" + (f": {their_roles}" if their_roles else ""),
            problem=problem,
        )
    # What the model does with these heads comes before the matrices, which are long.
    text = about(probe, width=width, style=style, reference_only=reference_only) + text
    if probe.diagnosis and not reference_only:
        # The diagnosis leads: in a small pane it must not hide below the matrices.
        lead = Text(probe.diagnosis + "\n", style="bold yellow" if style.color else "bold")
        text = lead + text
    if probe.reference_trace and not reference_only:
        text.append("\n\n")
        text.append_text(trace(probe, width=width, style=style))
    return text


def about(probe: ProbeResult, *, width: int, style: Style, reference_only: bool) -> Text:
    """The probe's notes on the learner's module, then the heads that do a job, each with its
    score in yours and in the reference, and what each job's score measures; a blank line
    after. Empty when the probe gives none of these."""
    lines = [] if reference_only else [printable(n, style) for n in probe.notes if n.strip()]
    lines = [wrapped for line in lines for wrapped in wrap_block(line, width, indent=0)]
    jobs = job_table(probe, style=style, reference_only=reference_only)
    if jobs and lines:
        lines.append("")
    lines += jobs
    used = {s.role for s in [*probe.head_scores, *probe.reference_head_scores] if s.named}
    for role, meaning in probe.role_meanings.items():
        if role in used and jobs:
            lines += wrap_block(printable(f"{role}: {meaning}", style), width, indent=0)
    if not lines:
        return Text()
    return Text("\n".join(_cut(line, width) for line in lines) + "\n\n")


def job_table(probe: ProbeResult, *, style: Style, reference_only: bool) -> list[str]:
    """One line per head and job that yours or the reference does, with both scores; a score
    that differs from the reference's by more than the picture's tolerance is marked."""
    mine = {(s.head, s.role): s.score for s in probe.head_scores}
    theirs = {(s.head, s.role): s.score for s in probe.reference_head_scores}
    named = [*probe.reference_head_scores, *([] if reference_only else probe.head_scores)]
    pairs = sorted({(s.head, s.role) for s in named if s.named})
    if not pairs:
        return []
    missing = "—" if style.unicode else "-"
    rows = [
        (
            printable(f"{head_name(probe, head)} {role}", style),
            mine.get((head, role)),
            theirs.get((head, role)),
        )
        for head, role in pairs
    ]
    name_width = max(len("heads at work"), *(len(name) for name, _, _ in rows))

    def score(value: float | None) -> str:
        return missing if value is None else f"{value:.2f}"

    if reference_only:
        lines = [f"{'heads at work':<{name_width}}  reference"]
        lines += [f"{name:<{name_width}}  {score(r):>9}" for name, _, r in rows]
        return lines
    lines = [f"{'heads at work':<{name_width}}  yours  reference"]
    for name, y, r in rows:
        differs = y is None or r is None or abs(y - r) > style.tolerance
        mark = " !" if differs else "  "
        lines.append(f"{name:<{name_width}}  {score(y):>5}{mark}{score(r):>9}".rstrip())
    return lines


def trace(probe: ProbeResult, *, width: int, style: Style) -> Text:
    """The shape of each step, yours beside the reference's, the first difference marked.

    A step carries the lesson's name for it when the probe gives one (``step_names``), else
    its operation's name. Where your operation is not the reference's, its name comes with
    your shape, so a mask where a softmax belongs shows as such.
    """
    missing = "—" if style.unicode else "-"
    table: list[tuple[str, str, str, bool]] = []
    for index in range(max(len(probe.learner_trace), len(probe.reference_trace))):
        mine = step(probe.learner_trace, index)
        theirs = step(probe.reference_trace, index)
        if theirs is not None and index < len(probe.step_names):
            name = probe.step_names[index]
        else:
            name = (theirs or mine or ("", ""))[0]
        if mine is None:
            yours = missing
        elif theirs is None or mine[0] == theirs[0]:
            yours = mine[1]
        else:
            yours = f"{mine[0]} {mine[1]}"
        reference = theirs[1] if theirs is not None else missing
        table.append((printable(name, style), yours, reference, mine != theirs))

    gutter = GUTTER
    yours_width = max([len("yours"), *(len(row[1]) for row in table)])
    reference_width = max([len("reference"), *(len(row[2]) for row in table)])
    name_width = max([len("step"), *(cell_len(row[0]) for row in table)])
    if name_width + yours_width + reference_width + 2 * gutter > width:
        # A narrow pane: tighter shapes and gutters leave the names more room.
        table = [(n, y.replace(", ", ","), r.replace(", ", ","), d) for n, y, r, d in table]
        yours_width = max([len("yours"), *(len(row[1]) for row in table)])
        reference_width = max([len("reference"), *(len(row[2]) for row in table)])
        gutter = 1
    # Names give way first (to the shapes and to the shortest arrow), down to a readable stub.
    arrow_width = 1 + cell_len(arrow(style)) if any(row[3] for row in table) else 0
    room = width - yours_width - reference_width - 2 * gutter - arrow_width
    name_width = max(8, min(name_width, room))
    cut = "…" if style.unicode else "~"

    def line(name: str, yours: str, reference: str) -> str:
        if cell_len(name) > name_width:
            name = set_cell_size(name, name_width - 1) + cut
        gap = " " * gutter
        return (
            f"{set_cell_size(name, name_width)}{gap}{yours:<{yours_width}}{gap}{reference}"
        ).rstrip()

    lines = Text()
    lines.append(_cut(line("step", "yours", "reference"), width) + "\n")
    highlight = "bold red" if style.color else "bold"
    marked = False
    for name, yours, reference, differs in table:
        first = differs and not marked
        marked = marked or differs
        text = line(name, yours, reference)
        if first:
            text = _marked(text, width, style)
        lines.append(_cut(text, width) + "\n", style=highlight if first else "")
    return lines


def arrow(style: Style) -> str:
    """The arrow that points at a first difference."""
    return "←" if style.unicode else "<-"


def _marked(line: str, width: int, style: Style) -> str:
    """``line`` with the longest "first difference" arrow that fits beside it."""
    for words in (" first difference", " differs", ""):
        marked = f"{line} {arrow(style)}{words}"
        if cell_len(marked) <= width:
            break
    return marked


def _cut(text: str, width: int) -> str:
    return set_cell_size(text, width).rstrip() if cell_len(text) > width else text


def step(steps: list[str], index: int) -> tuple[str, str] | None:
    """("matmul", "(1, 6, 6)") from "matmul (1, 6, 6)"."""
    if index >= len(steps):
        return None
    name, _, shape = steps[index].partition(" ")
    return name, shape
