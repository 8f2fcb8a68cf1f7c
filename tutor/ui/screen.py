"""The tutor's one screen: it lays the panes out and draws the session's updates in them."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.events import Resize
from textual.screen import Screen
from textual.widgets import Footer, Header, Markdown, ProgressBar, Static

from tutor.core.catalog import Exercise
from tutor.core.words import cut_at_word, printable
from tutor.session import (
    ExampleArrived,
    ExerciseOpened,
    HintRevealed,
    Phase,
    PictureArrived,
    ProgressChanged,
    RunJudged,
    RunProgressed,
    Session,
    StatusChanged,
    Trigger,
    Update,
)
from tutor.ui.widgets.attention import AttentionPane
from tutor.ui.widgets.exercise_list import LEGEND, ExerciseList
from tutor.ui.widgets.hints import HintsPane, call_to_action
from tutor.ui.widgets.results import ResultsPane

NARROW = 110  # below this width the panes stack instead of standing side by side
SHORT = 30  # below this height the header gives its row to the panes
MIN_WIDTH, MIN_HEIGHT = 60, 15  # below this the panes cannot show a line of a lesson


class Pane(StrEnum):
    """What a narrow terminal shows when the list is not open."""

    LESSON = "lesson"
    RESULTS = "results"


def home_relative(path: Path) -> str:
    """``~/attn-tutor/...`` rather than the full path, which is long over SSH."""
    try:
        return f"~/{path.relative_to(Path.home())}"
    except ValueError:
        return str(path)


def status_line(width: int, label: str, state: str, path: str, short_path: str) -> str:
    """Exercise, run state and file on one line of ``width``: the file's full path gives way
    to its short one, then goes; then the exercise's title is cut at a word. The state
    always shows."""
    room = width - 2
    gap = "  │  "
    for parts in ((label, state, path), (label, state, short_path), (label, state)):
        line = gap.join(parts)
        if len(line) <= room:
            return f" {line}"
    title = cut_at_word(label, max(8, room - len(gap) - len(state)))
    return f" {title}{gap}{state}"


class MainScreen(Screen[int]):
    """List, lesson, and results over attention over hints; one at a time when narrow."""

    def __init__(self, session: Session) -> None:
        super().__init__()
        self.session = session
        self.listing = False
        self.showing = Pane.LESSON

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="main"):
            with Vertical(id="sidebar"):
                yield ExerciseList(id="exercises")
                yield ProgressBar(id="solved", show_eta=False, show_percentage=False)
                yield Static("", id="solved-label")
            with VerticalScroll(id="lesson"):
                yield Markdown("", id="lesson-text")
            with Vertical(id="side"):
                yield ResultsPane(id="results")
                yield AttentionPane(id="attention")
                yield HintsPane(id="hints")
        yield Static("", id="status")
        yield Static("", id="too-small")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#lesson").border_title = "Lesson"
        self.apply_layout(self.app.size.width, self.app.size.height)
        self.refresh_list()
        self.refresh_status()

    # ----- layout

    def on_resize(self, event: Resize) -> None:
        self.apply_layout(event.size.width, event.size.height)

    def apply_layout(self, width: int, height: int) -> None:
        self.set_class(width < NARROW, "-narrow")
        self.set_class(height < SHORT, "-short")
        self.place_panes()
        if self.is_mounted:
            self.refresh_status()
        too_small = width < MIN_WIDTH or height < MIN_HEIGHT
        self.set_class(too_small, "-too-small")
        if too_small:
            # Toasts would cover the one message that matters at this size.
            self.app.clear_notifications()
            self.query_one("#too-small", Static).update(
                f"attn-tutor needs a terminal of at least {MIN_WIDTH}x{MIN_HEIGHT}; "
                f"this one is {width}x{height}. Make the window larger.\n\n"
                "Your saves are still tested meanwhile. q quits."
            )

    def show(self, pane: Pane | None = None, *, listing: bool | None = None) -> None:
        """Choose what a narrow terminal shows: the lesson or the results, and the list or not.

        The shown pane takes the focus, so PageUp and PageDown scroll it without a Tab.
        """
        if pane is not None:
            self.showing = pane
        if listing is not None:
            self.listing = listing
        self.place_panes()
        if self.listing:
            return
        if self.has_class("-narrow"):
            target = "#lesson" if self.showing is Pane.LESSON else "#results"
            self.query_one(target).focus()
        elif pane is Pane.LESSON or self.focused is None:
            self.query_one("#lesson").focus()

    def place_panes(self) -> None:
        # Set on the three panes themselves: a class on the screen would restyle every
        # widget of the lesson, which takes a visible moment on a small machine.
        narrow = self.has_class("-narrow")
        sidebar = self.query_one("#sidebar")
        sidebar.display = not narrow or self.listing
        sidebar.styles.width = "1fr" if narrow else 34
        self.query_one("#lesson").display = not narrow or (
            not self.listing and self.showing is Pane.LESSON
        )
        self.query_one("#side").display = not narrow or (
            not self.listing and self.showing is Pane.RESULTS
        )

    # ----- the session's updates

    def update(self, update: Update) -> None:
        """Draw one update of the session."""
        current = self.session.exercise
        match update:
            case ExerciseOpened(exercise=exercise):
                self.call_later(self.show_lesson, exercise)
                self.app.sub_title = exercise.label
                self.show(Pane.LESSON)
                self.show_results()
                self.show_hints()
                self.refresh_list()
            case RunProgressed(exercise=exercise) if exercise.key == current.key:
                if update.starting:
                    self.query_one(AttentionPane).scroll_home(animate=False)
                    if update.trigger is not Trigger.OPENED:
                        # The learner saved or asked: the results are what they want now.
                        # A run of its own (start-up, a newly opened exercise) leaves the
                        # lesson where it is.
                        self.show(Pane.RESULTS)
                self.show_results()
            case RunJudged(exercise=exercise):
                self.refresh_list()
                if exercise.key == current.key:
                    self.show_results()
                    self.show_hints()
            case PictureArrived(exercise=exercise) if exercise.key == current.key:
                self.show_picture()
                self.show_hints()  # a diagnosis may point to a hint
            case ExampleArrived(exercise=exercise) if exercise.key == current.key:
                self.show_results()  # the results point at the key that shows it
            case HintRevealed():
                self.show_hints()
            case ProgressChanged():
                self.refresh_list()
                self.show_hints()
            case StatusChanged():
                self.refresh_status()
            case _:
                pass  # notifications are the app's, as toasts

    async def show_lesson(self, exercise: Exercise) -> None:
        try:
            lesson = exercise.lesson.read_text(encoding="utf-8", errors="replace")
        except OSError as error:
            lesson = f"# {exercise.title}\n\nThe lesson could not be read: {error.strerror}"
        await self.query_one("#lesson-text", Markdown).update(printable(lesson))
        self.query_one("#lesson", VerticalScroll).scroll_home(animate=False)

    def show_picture(self) -> None:
        pane = self.query_one(AttentionPane)
        # The last picture stays up while the next run is on its way. Without a probe, a
        # picture comes only from the replay on the reference: the pane waits for one.
        probe = self.session.picture()
        pane.display = self.session.exercise.has_probe or probe is not None
        if probe is not pane.probe:
            pane.show(probe)

    def show_results(self) -> None:
        self.show_picture()
        pane = self.query_one(ResultsPane)
        report = self.session.report()
        if report is None:
            pane.say(
                f"Edit and save {self.session.course.problem(self.session.exercise)} in your "
                "editor: the tests run on every save (r runs them now)."
            )
            return
        pane.show(report, "problem.py")

    def show_hints(self) -> None:
        exercise = self.session.exercise
        seen = self.session.course.progress.of(exercise.key).hints_seen
        self.query_one(HintsPane).show(exercise, seen)
        report = self.session.report()
        quiet = report is None or report.passed or not report.done
        upcoming = self.session.next_hint()
        self.query_one(ResultsPane).call_to_action(
            Content() if quiet else call_to_action(exercise, upcoming)
        )

    def refresh_list(self) -> None:
        course = self.session.course
        exercises = course.catalog.exercises
        entries = {e.key: course.progress.of(e.key) for e in exercises}
        self.query_one(ExerciseList).show(exercises, entries, self.session.exercise.key)
        solved = len(course.progress.solved & set(entries))
        self.query_one("#solved", ProgressBar).update(total=len(exercises), progress=solved)
        self.query_one("#solved-label", Static).update(
            Content(f"★ {solved} of {len(exercises)} solved\n{LEGEND}")
        )

    def refresh_status(self) -> None:
        session = self.session
        state = session.phase.value
        if session.phase is Phase.READY and session.last_run is not None:
            last = session.last_run
            state = f"last run {last.at} ({last.seconds:.2f} s)"
        if session.polling:
            state += " · polling"
        problem = session.course.problem(session.exercise)
        line = status_line(
            self.app.size.width,
            session.exercise.label,
            state,
            home_relative(problem),
            f"{problem.parent.name}/{problem.name}",
        )
        self.query_one("#status", Static).update(Content(line))  # a path is never markup
