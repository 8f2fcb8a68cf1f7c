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
        text.append(f"\n{probe.diagnosis}", style="bold yellow" if style.color else "bold")
    return text
