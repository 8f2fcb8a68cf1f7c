"""The tutor app: a view of the session, with the learner's keys and the command palette."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import signal
import subprocess
import threading
from collections.abc import Iterable
from functools import partial
from pathlib import Path

from textual import on
from textual.app import App, SystemCommand
from textual.content import Content
from textual.driver import Driver
from textual.drivers.linux_driver import LinuxDriver
from textual.screen import Screen
from textual.widgets import OptionList

from tutor.core.catalog import Exercise
from tutor.core.course import Course
from tutor.core.explain import explain, missing
from tutor.core.heatmap import Style
from tutor.core.workspace import Claim
from tutor.runner import Runner
from tutor.session import Notification, RunJudged, Session, Update
from tutor.ui.actions import ACTIONS, bindings
from tutor.ui.screen import MainScreen, Pane
from tutor.ui.terminal import TerminalDriver, TerminalGone
from tutor.ui.themes import ANSI, DARK, NO_COLOR, THEMES
from tutor.ui.widgets.attention import AttentionPane
from tutor.ui.widgets.dialogs import Confirm, SolutionView, TextView
from tutor.ui.widgets.exercise_list import ExerciseList
from tutor.ui.widgets.hints import hint_text
from tutor.ui.widgets.results import render_details

HANG_UP_GRACE = 1.0  # seconds a hung-up app may take to exit by itself


class TutorApp(App[int]):
    """Edit problem.py in your editor; the tutor tests every save."""

    TITLE = "attn-tutor"
    CSS_PATH = Path(__file__).parent / "tutor.tcss"
    BINDINGS = bindings()

    def __init__(
        self,
        course: Course,
        *,
        runner: Runner | None = None,
        timeout: float | None = None,
        poll: bool = False,
        watch: bool = True,
        theme: str | None = None,
    ) -> None:
        super().__init__()
        for own in THEMES:
            self.register_theme(own)
        self.theme_name = theme
        self.course = course
        runner = runner or Runner(
            timeout=timeout,
            log=course.workspace.state / "worker.log",
            pack=course.catalog.root,
            record=course.pack_record,
        )
        self.session = Session(course, runner, watch=watch, poll=poll)
        self.session.listen(self.session_update)
        self.claim: Claim | None = None

    @property
    def exercise(self) -> Exercise:
        return self.session.exercise

    @property
    def main(self) -> MainScreen:
        """The tutor's own screen, whatever dialog is open above it."""
        screen = self.screen_stack[0]
        assert isinstance(screen, MainScreen)
        return screen

    def get_driver_class(self) -> type[Driver]:
        """Textual's terminal driver, made to notice a terminal that goes without a signal."""
        driver = super().get_driver_class()
        return TerminalDriver if driver is LinuxDriver else driver

    def get_default_screen(self) -> Screen[int]:
        return MainScreen(self.session)

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """Every tutor action by name in the command palette (Ctrl+p), besides the keys."""
        yield from super().get_system_commands(screen)
        for action in ACTIONS:
            if action.palette:
                yield SystemCommand(
                    action.title,
                    f"{action.help} ({action.key_display})",
                    partial(self.run_action, action.name),
                )

    # ----- start and stop

    def on_mount(self) -> None:
        loop = asyncio.get_running_loop()
        for number in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(number, self.hang_up)
        self.theme = self.theme_name or self.fitting_theme()
        self.claim = self.course.workspace.claim()
        if self.claim.other is not None:
            self.notify(
                f"Another attn-tutor, or another program, holds this workspace "
                f"({self.claim.other}). Both test your saves and both keep your progress "
                "safely; each shows only its own runs.",
                severity="warning",
                timeout=15,
                markup=False,  # the holder's command line is another user's text
            )
        if self.claim.problem:
            self.notify(self.claim.problem, severity="error", timeout=15, markup=False)
        # Paths and TOML ([[hints]]) are shown as written, never read as markup.
        for message in self.course.messages:
            self.notify(message, timeout=8, markup=False)
        for problem in self.course.catalog.problems:
            self.notify(f"skipped {problem}", severity="warning", timeout=10, markup=False)
        # The lesson's Markdown takes a moment to lay out: paint the frame first.
        self.call_after_refresh(self.first_open)

    def fitting_theme(self) -> str:
        """A theme that stays readable on this terminal."""
        if os.environ.get("NO_COLOR") is not None or self.no_color:
            # Without colour, Textual turns every colour into a grey by its brightness: on a
            # dark theme coloured text becomes black on black; on a light one it stays dark
            # grey on white.
            return NO_COLOR
        if self.console.color_system in (None, "standard", "windows"):
            return ANSI
        return DARK

    def first_open(self) -> None:
        self.session.open(self.session.exercise, run=False)
        self.run_worker(self.session.start(), group="session", exit_on_error=False)

    async def action_quit(self) -> None:
        await self.shut_down()
        self.exit(0)

    def on_terminal_gone(self, _: TerminalGone) -> None:
        self.hang_up()

    def hang_up(self) -> None:
        """SIGHUP, SIGTERM or SIGINT, or a terminal that went without a signal: the terminal
        (or the SSH link) is gone, or someone asked the tutor to stop. Save, stop, leave."""
        self.session.hang_up()
        self.exit(0)
        # Restoring a terminal that no longer exists can block, and tearing down the
        # interpreter can take most of a second on a busy machine; nothing is left to lose by
        # now. Not a daemon: the interpreter waits for it, so it also cuts that teardown short.
        threading.Timer(HANG_UP_GRACE, os._exit, args=(0,)).start()

    async def shut_down(self) -> None:
        await self.session.close()
        if self.claim is not None:
            self.claim.release()
            self.claim = None

    async def on_unmount(self) -> None:
        await self.shut_down()

    # ----- the session's updates

    def session_update(self, update: Update) -> None:
        if isinstance(update, Notification):
            title = update.title
            self.notify(update.text, title=title, severity=update.severity.value, markup=False)
        elif isinstance(update, RunJudged) and update.first_solve:
            following = self.course.neighbour(update.exercise, 1)
            after = f" Press n for {following.label}." if following else " That was the last one!"
            self.notify(
                f"{update.exercise.label} is solved.{after}",
                title="★ Solved",
                timeout=12,
                markup=False,
            )
        if self.screen_stack and not self.session.closing:
            self.main.update(update)

    # ----- actions (their keys and palette entries are in tutor/ui/actions.py)

    def action_next(self) -> None:
        if self.session.step(1) is None:
            self.notify("This is the last exercise.")

    def action_previous(self) -> None:
        if self.session.step(-1) is None:
            self.notify("This is the first exercise.")

    def action_list(self) -> None:
        main = self.main
        main.show(listing=not main.listing)
        listing = main.query_one(ExerciseList)
        listing.highlighted = self.course.catalog.index(self.exercise)
        listing.focus()

    @on(OptionList.OptionSelected, "#exercises")
    def chose(self, event: OptionList.OptionSelected) -> None:
        self.main.show(listing=False)
        chosen = self.course.catalog.find(event.option.id or "")
        if chosen is not None and chosen.key != self.exercise.key:
            self.session.open(chosen)

    def action_numbers(self) -> None:
        self.main.query_one(AttentionPane).toggle_numbers()

    def action_next_head(self) -> None:
        if not self.main.query_one(AttentionPane).next_head():
            self.notify("This picture has a single head.")

    def action_all_heads(self) -> None:
        if not self.main.query_one(AttentionPane).toggle_overview():
            self.notify("This picture has a single head.")

    def action_view(self) -> None:
        main = self.main
        main.show(Pane.LESSON if main.showing is Pane.RESULTS else Pane.RESULTS, listing=False)

    def action_hint(self) -> None:
        exercise = self.exercise
        revealed = self.session.reveal_hint()
        if revealed is None:
            self.notify(
                "You have seen every hint of this exercise; they are in the Hints pane."
                if exercise.hints
                else "This exercise has no hints."
            )
            return
        seen = len(self.course.progress.of(exercise.key).hints_seen)
        title = f"Hint {seen} of {len(exercise.hints)}: {exercise.label}"
        self.push_screen(TextView(title, hint_text(revealed.hint), "Esc closes"))

    def action_details(self) -> None:
        report = self.session.report()
        if report is None:
            self.notify("No run yet: save your file, or press r.")
            return
        body = render_details(report, "problem.py", min(100, self.size.width) - 6)
        self.push_screen(TextView(f"Every test: {self.exercise.label}", body, "Esc closes"))

    def action_explain(self) -> None:
        exercise = self.exercise
        example = self.session.example()
        if example is None:
            why = missing(self.session.report(), has_reference=exercise.solution is not None)
            self.notify(why[:1].upper() + why[1:] + ".", markup=False)
            return
        width = min(100, self.size.width) - 6
        text = explain(example, width=width, style=Style(color=not self.no_color))
        title = f"Where yours and the reference differ: {exercise.label}"
        self.push_screen(TextView(title, Content.from_rich_text(text), "Esc closes"))

    def action_run(self) -> None:
        if not self.session.run_now():
            self.notify("Still warming up PyTorch; the tests run as soon as it is ready.")

    def action_reset(self) -> None:
        exercise = self.exercise

        def answered(yes: bool | None) -> None:
            if not yes:
                return
            try:
                backup = self.session.reset(exercise)
            except OSError as error:
                self.notify(f"Could not reset: {error.strerror}", severity="error", markup=False)
                return
            kept = f" Your file was saved as {backup}." if backup else ""
            self.notify(
                f"{exercise.label} is back to the skeleton.{kept}", timeout=12, markup=False
            )

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


def run_app(course: Course, *, timeout: float | None, poll: bool, theme: str | None = None) -> int:
    """Open the tutor; returns the exit code."""
    app = TutorApp(course, timeout=timeout, poll=poll, theme=theme)
    if theme is not None and theme not in app.available_themes:
        names = ", ".join(sorted(app.available_themes))
        raise ValueError(f"unknown theme {theme!r}; choose one of {names}")
    result = app.run()
    return result if isinstance(result, int) else 0
