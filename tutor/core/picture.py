"""Turn a probe result into the attention picture: the same text in the app and in a shell."""

from __future__ import annotations

from rich.text import Text

from tutor.core.heatmap import Matrix, Style, render
from tutor.core.protocol import ProbeResult


def heads(probe: ProbeResult) -> int:
    """How many heads the picture can cycle through."""
    return max(len(probe.learner or []), len(probe.reference or []), 1)


def head_matrix(
    probe: ProbeResult, values: list[list[list[float]]] | None, head: int
) -> Matrix | None:
    if not values:
        return None
    chosen = values[head % len(values)]
    return Matrix(
        rows=tuple(probe.queries),
        cols=tuple(probe.keys),
        values=tuple(tuple(row) for row in chosen),
        allowed=tuple(tuple(row) for row in probe.allowed) if probe.allowed else None,
    )


def picture(
    probe: ProbeResult,
    *,
    width: int,
    head: int = 0,
    style: Style | None = None,
    reference_only: bool = False,
) -> Text:
    """The learner's weights beside the reference, for one head, with the diagnosis under it."""
    style = style or Style()
    count = heads(probe)
    suffix = f" (head {head % count + 1} of {count})" if count > 1 else ""
    learner = None if reference_only else head_matrix(probe, probe.learner, head)
    problem = probe.problem if not reference_only else ""
    text = render(
        learner,
        head_matrix(probe, probe.reference, head),
        width=width,
        style=style,
        learner_title=f"yours{suffix}",
        reference_title=f"reference{suffix}",
        problem=problem,
    )
    if probe.diagnosis and not reference_only:
        # The diagnosis leads: in a small pane it must not hide below the matrices.
        lead = Text(probe.diagnosis + "\n", style="bold yellow" if style.color else "bold")
        text = lead + text
    if probe.reference_trace and not reference_only:
        text.append("\n")
        text.append_text(trace(probe, width=width, style=style))
    return text


def trace(probe: ProbeResult, *, width: int, style: Style) -> Text:
    """The shapes of each step, yours beside the reference's, the first difference marked."""
    rows = max(len(probe.learner_trace), len(probe.reference_trace))
    column = max(12, min(20, (width - 34) // 2))
    lines = Text()
    lines.append(f"{'step':<10}{'yours':<{column}}{'reference':<{column}}".rstrip()[:width] + "\n")
    marked = False
    missing = "-" if not style.unicode else "—"
    for index in range(rows):
        mine = step(probe.learner_trace, index)
        theirs = step(probe.reference_trace, index)
        name = (mine or theirs or ("", ""))[0]
        different = mine != theirs and not marked
        marked = marked or different
        line = (
            f"{name:<10}{(mine[1] if mine else missing):<{column}}"
            f"{(theirs[1] if theirs else missing):<{column}}"
        ).rstrip()
        arrow = " <- first difference" if not style.unicode else " ← first difference"
        line = (line + arrow)[:width] if different else line[:width]
        highlight = "bold red" if style.color else "bold"
        lines.append(line + "\n", style=highlight if different else "")
    return lines


def step(steps: list[str], index: int) -> tuple[str, str] | None:
    """("matmul", "(1, 6, 6)") from "matmul (1, 6, 6)"."""
    if index >= len(steps):
        return None
    name, _, shape = steps[index].partition(" ")
    return name, shape
