"""The tutor app: lesson, exercise list, live results and hints, re-run on every save."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import shlex
import signal
import subprocess
import threading
import time
from collections.abc import Iterable
from functools import partial
from pathlib import Path

from rich.text import Text
from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.events import Resize
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Header, Markdown, OptionList, ProgressBar, Static

from tutor.core.catalog import Exercise
from tutor.core.course import Course
from tutor.core.files import read_plain_file
from tutor.core.protocol import ProbeResult, RunFinished, Verdict
from tutor.core.report import RunReport
from tutor.core.workspace import Claim
from tutor.runner import Runner
from tutor.ui.watcher import Watcher
from tutor.ui.widgets.attention import AttentionPane
from tutor.ui.widgets.dialogs import Confirm, SolutionView
from tutor.ui.widgets.exercise_list import ExerciseList
from tutor.ui.widgets.hints import HintsPane, next_hint
from tutor.ui.widgets.results import ResultsPane

DEBOUNCE = 0.15  # editors write a file in bursts; one run per burst
WATCH_CHECK = 3.0  # seconds to wait for the watcher's own test event before polling
NARROW = 110  # below this width the panes stack instead of standing side by side
HANG_UP_GRACE = 1.0  # seconds a hung-up app may take to exit by itself
NOT_RECORDED = {Verdict.MISSING, Verdict.CANCELLED, Verdict.INTERRUPTED}
MIN_WIDTH, MIN_HEIGHT = 60, 15  # below this the panes cannot show a line of a lesson


def home_relative(path: Path) -> str:
    """``~/attn-tutor/...`` rather than the full path, which is long over SSH."""
    try:
        return f"~/{path.relative_to(Path.home())}"
    except ValueError:
        return str(path)


def digest(path: Path) -> str | None:
    """The file's content hash; None when it is missing, unreadable or not a plain file."""
    try:
        return hashlib.sha256(read_plain_file(path)).hexdigest()
    except OSError:
        return None


class TutorApp(App[int]):
    """Edit problem.py in your editor; the tutor tests every save."""

    TITLE = "attn-tutor"
    CSS_PATH = Path(__file__).parent / "tutor.tcss"
    BINDINGS = [
        Binding("n", "next", "Next"),
        Binding("p", "previous", "Prev"),
        Binding("l", "list", "List"),
        Binding("h", "hint", "Hint"),
        Binding("r", "run", "Run"),
        Binding("v", "view", "Lesson/results"),
        Binding("m", "numbers", "Numbers", show=False),
        Binding("right_square_bracket", "next_head", "Next head", show=False),
        Binding("a", "all_heads", "All heads", show=False),
        Binding("x", "reset", "Reset"),
        Binding("s", "solution", "Solution"),
        Binding("e", "edit", "Edit"),
        Binding("q", "quit", "Quit"),
    ]

    class Saved(Message):
        """A ``problem.py`` in the workspace changed (sent from the watcher's thread)."""

        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, TutorApp.Saved) and message.key == self.key

    def __init__(
        self,
        course: Course,
        *,
        runner: Runner | None = None,
        timeout: float = 10.0,
        poll: bool = False,
        watch: bool = True,
        theme: str | None = None,
    ) -> None:
        super().__init__()
        self.theme_name = theme
        self.course = course
        self.runner = runner or Runner(timeout=timeout, log=course.workspace.state / "worker.log")
        folders = [course.problem(e).parent for e in course.catalog.exercises]
        self.watcher = (
            Watcher(course.workspace.root, folders, self.file_changed, poll=poll) if watch else None
        )
        self.watch_confirmed = False
        first = course.current()
        assert first is not None, "a course always has an exercise"
        self.exercise: Exercise = first
        self.reports: dict[str, RunReport] = {}
        self.pictures: dict[str, ProbeResult] = {}
        self.ran: dict[str, str | None] = {}  # content hash of each file's latest run
        self.settling: dict[str, Timer] = {}
        self.queued: list[str] = []  # other exercises saved while one was running
        self.running: str | None = None
        self.last_run = ""
        self.ticker: Timer | None = None
        self.claim: Claim | None = None
        # What a narrow terminal shows: the list over everything, else the lesson or results.
        self.listing = False
        self.showing = "lesson"
        self.closing = False  # set on the way out: runs still ending must not touch the screen

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """Every tutor action by name in the command palette (Ctrl+p), besides the keys."""
        yield from super().get_system_commands(screen)
        for title, help_text, action in (
            ("Next exercise", "Open the next exercise (n)", self.action_next),
            ("Previous exercise", "Open the previous exercise (p)", self.action_previous),
            ("Exercise list", "Show the list of exercises (l)", self.action_list),
            ("Hint", "Reveal the next hint (h)", self.action_hint),
            ("Run tests", "Run the tests on your file now (r)", self.action_run),
            ("Lesson or results", "Switch panes on a narrow terminal (v)", self.action_view),
            ("All heads", "Every head side by side, or one head (a)", self.action_all_heads),
            ("Reset exercise", "Restore the skeleton, keeping a backup (x)", self.action_reset),
            ("Show solution", "The reference solution (s)", self.action_solution),
            ("Edit in $EDITOR", "Open your file in your editor (e)", self.action_edit),
        ):
            yield SystemCommand(title, help_text, action)

    # ----- layout

    @property
    def main(self) -> Screen[int]:
        """The tutor's own screen, whatever dialog is open above it."""
        return self.screen_stack[0]

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

    async def on_mount(self) -> None:
        self.main.query_one("#lesson").border_title = "Lesson"
        loop = asyncio.get_running_loop()
        for number in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(number, self.hang_up)
        self.apply_layout(self.size.width, self.size.height)
        self.theme = self.theme_name or self.fitting_theme()
        self.claim = self.course.workspace.claim()
        if self.claim.other is not None:
            who = f" (process {self.claim.other})" if self.claim.other else ""
            self.notify(
                f"Another attn-tutor{who} is open on this workspace. Both test your saves and "
                "both keep your progress safely; each shows only its own runs.",
                severity="warning",
                timeout=15,
            )
        # Paths and TOML ([[hints]]) are shown as written, never read as markup.
        for message in self.course.messages:
            self.notify(message, timeout=8, markup=False)
        for problem in self.course.catalog.problems:
            self.notify(f"skipped {problem}", severity="warning", timeout=10, markup=False)
        if self.watcher is not None:
            self.watcher.start()
            if self.watcher.polling:
                self.notify(self.watcher.reason, timeout=8)
            elif self.watcher.probe():
                self.set_timer(WATCH_CHECK, self.check_watch)
            else:
                self.check_watch()
        self.refresh_list()
        # The lesson's Markdown takes a moment to lay out: paint the frame first.
        self.call_after_refresh(self.first_open)
        self.ticker = self.set_interval(0.5, self.refresh_status)

    def fitting_theme(self) -> str:
        """A theme that stays readable on this terminal."""
        if os.environ.get("NO_COLOR"):
            # Without colour, Textual turns every colour into a grey by its brightness: on a
            # dark theme coloured text becomes black on black; on a light one it stays dark
            # grey on white.
            return "textual-light"
        if self.console.color_system in (None, "standard", "windows"):
            return "ansi-dark"
        return self.theme

    async def first_open(self) -> None:
        await self.open_exercise(self.exercise, run=False)
        self.start_worker()

    def on_resize(self, event: Resize) -> None:
        self.apply_layout(event.size.width, event.size.height)

    def apply_layout(self, width: int, height: int) -> None:
        self.main.set_class(width < NARROW, "-narrow")
        self.arrange()
        too_small = width < MIN_WIDTH or height < MIN_HEIGHT
        self.main.set_class(too_small, "-too-small")
        if too_small:
            self.main.query_one("#too-small", Static).update(
                f"attn-tutor needs a terminal of at least {MIN_WIDTH}x{MIN_HEIGHT}; "
                f"this one is {width}x{height}. Make the window larger.\n\n"
                "Your saves are still tested meanwhile. q quits."
            )

    def show(self, pane: str | None = None, *, listing: bool | None = None) -> None:
        """Choose what a narrow terminal shows: "lesson" or "results", and the list or not."""
        if pane is not None:
            self.showing = pane
        if listing is not None:
            self.listing = listing
        self.arrange()

    def arrange(self) -> None:
        # Set on the three panes themselves: a class on the screen would restyle every
        # widget of the lesson, which takes a visible moment on a small machine.
        narrow = self.main.has_class("-narrow")
        sidebar = self.main.query_one("#sidebar")
        sidebar.display = not narrow or self.listing
        sidebar.styles.width = "1fr" if narrow else 34
        self.main.query_one("#lesson").display = not narrow or (
            not self.listing and self.showing == "lesson"
        )
        self.main.query_one("#side").display = not narrow or (
            not self.listing and self.showing == "results"
        )

    # ----- the worker and runs

    @work(group="warmup")
    async def start_worker(self) -> None:
        await self.runner.start()
        self.refresh_status()
        await self.runner.wait_ready()
        self.refresh_status()
        self.run_exercise(self.exercise)

    def run_exercise(self, exercise: Exercise) -> None:
        """Test the exercise now; a newer run of the current exercise cancels an older one."""
        self.ran[exercise.key] = digest(self.course.problem(exercise))
        if exercise.key == self.exercise.key:
            self.run_current(exercise)
        elif exercise.key not in self.queued:
            self.queued.append(exercise.key)
            if self.running is None:
                self.run_queued()

    @work(exclusive=True, group="current")
    async def run_current(self, exercise: Exercise) -> None:
        await self.run_tests(exercise)
        self.run_queued()

    @work(group="queued")
    async def run_queued(self) -> None:
        while self.queued and self.running is None:
            key = self.queued.pop(0)
            found = self.course.catalog.find(key)
            if found is not None:
                await self.run_tests(found)

    async def run_tests(self, exercise: Exercise) -> None:
        report = RunReport()
        self.reports[exercise.key] = report
        self.running = exercise.key
        if exercise.key == self.exercise.key:
            self.show_results()
            self.show("results")
        self.refresh_status()
        try:
            async for event in self.runner.run(exercise.path, self.course.problem(exercise)):
                report.add(event)
                if self.closing:
                    continue
                if isinstance(event, RunFinished):
                    self.finish_run(exercise, report)  # the verdict, before any picture
                    continue
                if isinstance(event, ProbeResult):
                    self.pictures[exercise.key] = event
                if exercise.key == self.exercise.key:
                    self.show_results()
                    if isinstance(event, ProbeResult):
                        self.show_hints()  # a diagnosis may point to a hint
        finally:
            if self.running == exercise.key:
                self.running = None
                if not self.closing:
                    self.refresh_status()

    def finish_run(self, exercise: Exercise, report: RunReport) -> None:
        finished = report.finished
        if finished is None:
            return
        self.last_run = f"last run {time.strftime('%H:%M:%S')} ({finished.duration:.2f} s)"
        first_solve = False
        if finished.verdict not in NOT_RECORDED:
            first_solve = self.course.progress.record_run(exercise.key, report.passed)
            self.save_progress()
        self.refresh_list()
        if exercise.key == self.exercise.key:
            self.show_results()
            self.show_hints()
        if first_solve:
            following = self.neighbour(exercise, 1)
            after = f" Press n for {following.label}." if following else " That was the last one!"
            self.notify(f"{exercise.label} is solved.{after}", title="★ Solved", timeout=12)
        self.refresh_status()

    # ----- saves

    def file_changed(self, key: str) -> None:
        """Called on the watcher's thread: hand the event to the app's loop."""
        self.post_message(self.Saved(key))

    @on(Saved)
    def saved(self, message: Saved) -> None:
        if message.key == "":
            self.watch_confirmed = True
            return
        # Leading edge: the first event of a burst runs at once (an atomic save is complete
        # by then). Trailing edge: once the burst has been quiet for DEBOUNCE, the content is
        # checked again; if it changed meanwhile, that run supersedes the first.
        timer = self.settling.pop(message.key, None)
        if timer is None:
            self.settled(message.key)
        else:
            timer.stop()
        self.settling[message.key] = self.set_timer(DEBOUNCE, partial(self.quiet, message.key))

    def quiet(self, key: str) -> None:
        self.settling.pop(key, None)
        self.settled(key)

    def settled(self, key: str) -> None:
        exercise = self.course.catalog.find(key)
        if exercise is None:
            return
        problem = self.course.problem(exercise)
        content = digest(problem)
        if key in self.ran and content == self.ran[key]:
            # Saved without a change, or still missing or unreadable: the verdict on screen
            # is still current.
            return
        if content is None and not problem.exists() and key != self.exercise.key:
            return
        self.run_exercise(exercise)

    def check_watch(self) -> None:
        if self.watcher is not None and not self.watch_confirmed:
            self.watcher.switch_to_polling(
                "file events did not arrive here; watching by polling every 0.5 s instead"
            )
            self.notify(self.watcher.reason, severity="warning", timeout=10)
            self.refresh_status()

    # ----- showing things

    async def open_exercise(self, exercise: Exercise, *, run: bool = True) -> None:
        self.exercise = exercise
        self.course.progress.current = exercise.key
        self.save_progress()
        self.refresh_list()
        try:
            lesson = exercise.lesson.read_text(encoding="utf-8", errors="replace")
        except OSError as error:
            lesson = f"# {exercise.title}\n\nThe lesson could not be read: {error.strerror}"
        await self.main.query_one("#lesson-text", Markdown).update(lesson)
        self.main.query_one("#lesson", VerticalScroll).scroll_home(animate=False)
        self.sub_title = exercise.label
        self.show("lesson")
        self.show_results()
        self.show_hints()
        self.refresh_status()
        if run and self.runner.ready.is_set():
            self.run_exercise(exercise)

    def show_picture(self) -> None:
        pane = self.main.query_one(AttentionPane)
        pane.display = (self.exercise.path / "probe.py").is_file()
        # The last picture stays up while the next run is on its way.
        probe = self.pictures.get(self.exercise.key)
        if probe is not pane.probe:
            pane.show(probe)

    def show_results(self) -> None:
        self.show_picture()
        pane = self.main.query_one(ResultsPane)
        report = self.reports.get(self.exercise.key)
        if report is None:
            pane.say(
                f"Edit and save {self.course.problem(self.exercise)} in your editor: "
                "the tests run on every save (r runs them now)."
            )
            return
        pane.show(report, "problem.py")

    def failure(self) -> tuple[set[str], str]:
        """The failing tests of the latest finished run, and the hint its picture points to."""
        report = self.reports.get(self.exercise.key)
        if report is None or not report.done or report.passed:
            return set(), ""
        preferred = report.probe.diagnosis_hint if report.probe is not None else ""
        return report.failing_tests, preferred

    def show_hints(self) -> None:
        failing, preferred = self.failure()
        seen = self.course.progress.of(self.exercise.key).hints_seen
        self.main.query_one(HintsPane).show(self.exercise, seen, failing, preferred)

    def refresh_list(self) -> None:
        exercises = self.course.catalog.exercises
        statuses = {e.key: self.course.status(e) for e in exercises}
        self.main.query_one(ExerciseList).show(exercises, statuses, self.exercise.key)
        solved = len(self.course.progress.solved & set(statuses))
        self.main.query_one("#solved", ProgressBar).update(total=len(exercises), progress=solved)
        self.main.query_one("#solved-label", Static).update(f"{solved} of {len(exercises)} solved")

    def refresh_status(self) -> None:
        if not self.runner.ready.is_set():
            state = "warming up PyTorch…"
        elif self.running is not None:
            state = "running tests…"
        else:
            state = self.last_run or "ready"
        watching = f"watching {home_relative(self.course.problem(self.exercise))}"
        if self.watcher is not None and self.watcher.polling:
            watching += " (polling)"
        if self.closing or not self.screen_stack:
            return  # a timer that fired on the way out
        for line in self.main.query("#status").results(Static):  # absent while closing
            line.update(Text(f" {watching}  │  {state}"))  # a path is never markup

    def neighbour(self, exercise: Exercise, step: int) -> Exercise | None:
        exercises = self.course.catalog.exercises
        index = self.course.catalog.index(exercise) + step
        return exercises[index] if 0 <= index < len(exercises) else None

    def save_progress(self) -> None:
        warning = self.course.save_progress()
        if warning:
            self.notify(warning, severity="error", timeout=10)

    # ----- actions

    async def action_next(self) -> None:
        following = self.neighbour(self.exercise, 1)
        if following is None:
            self.notify("This is the last exercise.")
        else:
            await self.open_exercise(following)

    async def action_previous(self) -> None:
        previous = self.neighbour(self.exercise, -1)
        if previous is None:
            self.notify("This is the first exercise.")
        else:
            await self.open_exercise(previous)

    def action_list(self) -> None:
        self.show(listing=not self.listing)
        listing = self.main.query_one(ExerciseList)
        listing.highlighted = self.course.catalog.index(self.exercise)
        listing.focus()

    @on(OptionList.OptionSelected, "#exercises")
    async def chose(self, event: OptionList.OptionSelected) -> None:
        self.show(listing=False)
        chosen = self.course.catalog.find(event.option.id or "")
        if chosen is not None and chosen.key != self.exercise.key:
            await self.open_exercise(chosen)

    def action_numbers(self) -> None:
        self.main.query_one(AttentionPane).toggle_numbers()

    def action_next_head(self) -> None:
        self.main.query_one(AttentionPane).next_head()

    def action_all_heads(self) -> None:
        if not self.main.query_one(AttentionPane).toggle_overview():
            self.notify("This picture has a single head.")

    def action_view(self) -> None:
        self.show("lesson" if self.showing == "results" else "results", listing=False)

    def action_hint(self) -> None:
        failing, preferred = self.failure()
        entry = self.course.progress.of(self.exercise.key)
        hint = next_hint(self.exercise, entry.hints_seen, failing, preferred)
        if hint is None:
            self.notify("No more hints for this exercise.")
            return
        self.course.progress.see_hint(self.exercise.key, hint.id)
        self.save_progress()
        self.show_hints()
        self.show("results")
        self.main.query_one(HintsPane).scroll_end(animate=False)

    def action_run(self) -> None:
        if not self.runner.ready.is_set() and self.runner.running:
            self.notify("Still warming up PyTorch; the tests run as soon as it is ready.")
            return
        self.run_exercise(self.exercise)

    def action_reset(self) -> None:
        exercise = self.exercise

        def answered(yes: bool | None) -> None:
            if not yes:
                return
            try:
                backup = self.course.workspace.reset(exercise)
            except OSError as error:
                self.notify(f"Could not reset: {error.strerror}", severity="error")
                return
            kept = f" Your file was saved as {backup}." if backup else ""
            self.notify(f"{exercise.label} is back to the skeleton.{kept}", timeout=12)

        self.push_screen(
            Confirm(f"Reset {exercise.label} to the skeleton? Your file is backed up first."),
            answered,
        )

    def action_solution(self) -> None:
        exercise = self.exercise
        solution = exercise.solution
        if solution is None:
            self.notify("This exercise has no reference solution.")
            return

        def show(yes: bool | None = True) -> None:
            if yes:
                code = solution.read_text(encoding="utf-8", errors="replace")
                self.push_screen(SolutionView(exercise.label, code))

        if exercise.key in self.course.progress.solved:
            show()
        else:
            self.push_screen(
                Confirm("You have not solved this one yet. Show the solution anyway?"), show
            )

    def action_edit(self) -> None:
        editor = os.environ.get("VISUAL") or os.environ.get("EDITOR")
        if not editor:
            self.notify("Set $EDITOR (for example EDITOR=vim) to open files from here.")
            return
        with self.suspend():
            try:
                subprocess.run([*shlex.split(editor), str(self.course.problem(self.exercise))])
            except OSError as error:
                self.notify(f"Could not start {editor}: {error.strerror}", severity="error")

    async def action_quit(self) -> None:
        await self.shut_down()
        self.exit(0)

    def hang_up(self) -> None:
        """SIGHUP, SIGTERM or SIGINT: the terminal (or the SSH link) is gone, or someone
        asked the tutor to stop. Save, stop, leave."""
        self.closing = True
        self.save_progress()
        process = self.runner.process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
        if self.watcher is not None:
            self.watcher.stop()
        self.exit(0)
        # Restoring a terminal that no longer exists can block; nothing is left to lose by now.
        threading.Timer(HANG_UP_GRACE, os._exit, args=(0,)).start()

    async def shut_down(self) -> None:
        self.closing = True
        if self.ticker is not None:
            self.ticker.stop()
        self.save_progress()
        if self.watcher is not None:
            self.watcher.stop()
        await self.runner.close()
        if self.claim is not None:
            self.claim.release()

    async def on_unmount(self) -> None:
        await self.shut_down()


def run_app(course: Course, *, timeout: float, poll: bool, theme: str | None = None) -> int:
    """Open the tutor; returns the exit code."""
    app = TutorApp(course, timeout=timeout, poll=poll, theme=theme)
    if theme is not None and theme not in app.available_themes:
        names = ", ".join(sorted(app.available_themes))
        raise ValueError(f"unknown theme {theme!r}; choose one of {names}")
    result = app.run()
    return result if isinstance(result, int) else 0
