"""The verdict of the latest run: each test as it finishes, and what went wrong."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from tutor.core.protocol import Verdict
from tutor.core.report import RunReport

WHAT_TO_TRY = {
    Verdict.TIMED_OUT: "Look for a loop that never ends, a sleep, or input().",
    Verdict.CRASHED: "Something below Python failed; undo your last change and save again.",
    Verdict.EXITED_EARLY: "Remove any exit()/sys.exit()/os._exit() from your file.",
    Verdict.OUT_OF_MEMORY: "Some tensor is far larger than the inputs; check its shape.",
    Verdict.MISSING: "Save your problem.py again, or press x to restore the skeleton.",
    Verdict.INTERRUPTED: "Save again or press r: a new test worker starts.",
}


def render_report(report: RunReport, file_label: str) -> RenderableType:
    """The whole results pane for one run, streamed or finished."""
    parts: list[RenderableType] = []
    finished = report.finished
    if finished is None:
        parts.append(Text(report.headline(), style="bold yellow"))
    elif finished.verdict is Verdict.PASSED:
        parts.append(Text(f"PASSED  {report.headline()}", style="bold green"))
    else:
        parts.append(
            Text(f"{finished.verdict.value.upper()}  {report.headline()}", style="bold red")
        )
        advice = WHAT_TO_TRY.get(finished.verdict)
        if advice:
            parts.append(Text(advice, style="italic"))
    for note in report.notices:
        parts.append(Text(f"note: {note}", style="yellow"))
    for error in report.errors:
        where = f"{error.file} line {error.line}" if error.line else error.file
        parts.append(
            Text.assemble(("error in ", "bold red"), (where, "bold"), "\n  ", error.message)
        )
    for outcome in report.outcomes:
        if outcome.outcome == "passed":
            parts.append(Text.assemble(("✓ ", "green"), outcome.name))
            continue
        mark = ("✗ ", "red") if outcome.outcome == "failed" else ("- ", "yellow")
        where = f"  {file_label}:{outcome.line}" if outcome.line else ""
        parts.append(Text.assemble(mark, (outcome.name, "bold"), (where, "cyan")))
        if outcome.message:
            parts.append(Text("    " + outcome.message.replace("\n", "\n    "), style="default"))
    if finished is not None and finished.output.strip() and not report.passed:
        tail = "\n".join(finished.output.rstrip().splitlines()[-8:])
        parts.append(Text("your code printed:", style="dim"))
        parts.append(Text(tail, style="dim"))
    return Group(*parts)


class ResultsPane(VerticalScroll):
    """Shows one run's report; ``show`` again as events arrive."""

    BORDER_TITLE = "Results"

    def compose(self):  # type: ignore[no-untyped-def]
        yield Static("Save your problem.py to run the tests (or press r).", id="results-body")

    def show(self, report: RunReport, file_label: str) -> None:
        self.query_one("#results-body", Static).update(render_report(report, file_label))

    def say(self, text: str) -> None:
        self.query_one("#results-body", Static).update(Text(text))
