"""The verdict of the latest run: what failed first and why, in full; the rest one key away."""

from __future__ import annotations

from textual.containers import VerticalScroll
from textual.content import Content
from textual.widgets import Static

from tutor.core.protocol import Outcome, TestOutcome, Verdict
from tutor.core.report import RunReport
from tutor.core.words import wrap_block

EXPLAIN_KEY = "e: the smallest input where yours and the reference differ"
# The same pointer, short enough to ride on the line of counts of a failing run: there the
# failure itself matters more than a line of its own for the example.
EXPLAIN_SHORT = "e: worked example"
OUTPUT_LINES = 3  # lines of printed output under a run that ended without a test failing
DETAILS_OUTPUT_LINES = 40


def headline(report: RunReport) -> Content:
    """The verdict and the count, coloured by how the run ended."""
    finished = report.finished
    if finished is None:
        return Content.styled(report.headline(), "bold $text-warning")
    if finished.verdict is Verdict.PASSED:
        return Content.styled(f"PASSED  {report.headline()}", "bold $text-success")
    verdict = finished.verdict.value.upper()
    return Content.styled(f"{verdict}  {report.headline()}", "bold $text-error")


def test_line(outcome: TestOutcome, file_label: str) -> Content:
    """``✗ test_name  problem.py:21``."""
    marks = {Outcome.PASSED: ("✓ ", "$text-success"), Outcome.FAILED: ("✗ ", "$text-error")}
    mark = marks.get(outcome.outcome, ("- ", "$text-warning"))
    where = f"  {file_label}:{outcome.line}" if outcome.line else ""
    return Content.assemble(mark, (outcome.name, "bold"), (where, "$text-accent"))


def block(message: str, width: int) -> Content:
    """A message wrapped at words and indented under its test; never cut."""
    return Content("\n".join(wrap_block(message, width)))


def render_summary(report: RunReport, file_label: str, width: int) -> Content:
    """What a learner needs after a run, the first failure first: it fits a small pane."""
    parts = [headline(report)]
    finished = report.finished
    if finished is not None and finished.verdict.advice:
        parts.append(Content.styled(finished.verdict.advice, "italic"))
    differs = finished is not None and finished.verdict is Verdict.DIFFERS
    if report.example is not None and differs:
        parts.append(Content.styled(EXPLAIN_KEY, "bold $text-warning"))
    for note in report.notices:
        parts.append(Content.styled(f"note: {note}", "$text-warning"))
    for error in report.errors:
        where = f"{error.file} line {error.line}" if error.line else error.file
        parts.append(Content.assemble(("error in ", "bold $text-error"), (where, "bold")))
        parts.append(block(error.message, width))
    failures = report.failures
    if failures:
        parts.append(test_line(failures[0], file_label))
        if failures[0].message:
            parts.append(block(failures[0].message, width))
    passed = sum(o.outcome is Outcome.PASSED for o in report.outcomes)
    folded = []
    if len(failures) > 1:
        folded.append(f"✗ {len(failures) - 1} more failing")
    if passed:
        folded.append(f"✓ {passed} passing")
    pointer = report.example is not None and not differs
    if folded:
        more = "  (Enter: every test)" if finished is not None else ""
        counts = Content.styled("  ·  ".join(folded) + more, "$text-muted")
        if pointer:
            counts = Content.assemble(counts, ("  ", ""), (EXPLAIN_SHORT, "bold $text-warning"))
        parts.append(counts)
    elif pointer:
        parts.append(Content.styled(EXPLAIN_SHORT, "bold $text-warning"))
    if finished is not None and not failures and not report.passed and finished.output.strip():
        tail = finished.output.rstrip().splitlines()[-OUTPUT_LINES:]
        parts.append(Content.styled("your code printed (Enter: more):", "$text-muted"))
        parts.append(Content("\n".join(tail)))
    return Content("\n").join(parts)


def render_details(report: RunReport, file_label: str, width: int) -> Content:
    """Every test with its whole message, then the tail of what the code printed."""
    parts = [headline(report)]
    finished = report.finished
    if finished is not None and finished.message and not report.errors:
        parts.append(block(finished.message, width))
    for error in report.errors:
        where = f"{error.file} line {error.line}" if error.line else error.file
        parts.append(Content.assemble(("error in ", "bold $text-error"), (where, "bold")))
        parts.append(block(error.message, width))
    for outcome in sorted(report.outcomes, key=lambda o: o.outcome is Outcome.PASSED):
        parts.append(test_line(outcome, file_label))
        if outcome.message:
            parts.append(block(outcome.message, width))
    if finished is not None and finished.output.strip():
        tail = finished.output.rstrip().splitlines()[-DETAILS_OUTPUT_LINES:]
        parts.append(Content.styled("\nyour code printed (the last lines):", "$text-muted"))
        parts.append(Content("\n".join(tail)))
    return Content("\n").join(parts)


class ResultsPane(VerticalScroll):
    """The latest run of the current exercise, the first failure first, redrawn to its width."""

    BORDER_TITLE = "Results"

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.report: RunReport | None = None
        self.file_label = ""
        self.note = "Save your problem.py to run the tests (or press r)."

    def compose(self):  # type: ignore[no-untyped-def]
        yield Static(Content(self.note), id="results-body")
        yield Static("", id="results-call")

    def show(self, report: RunReport, file_label: str) -> None:
        if report is not self.report:
            self.scroll_home(animate=False)  # a new run starts at its top
        self.report, self.file_label = report, file_label
        self.redraw()

    def say(self, text: str) -> None:
        self.report, self.note = None, text
        self.redraw()

    def call_to_action(self, line: Content) -> None:
        """A line under the results, such as the hint that fits this failure."""
        self.query_one("#results-call", Static).update(line)

    def on_resize(self) -> None:
        self.redraw()

    def redraw(self) -> None:
        body = self.query_one("#results-body", Static)
        if self.report is None:
            body.update(Content(self.note))  # a path: never markup
            return
        width = max(20, self.scrollable_content_region.width)
        body.update(render_summary(self.report, self.file_label, width))
