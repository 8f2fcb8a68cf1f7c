"""Helpers for driving the app headless, with a scripted runner."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from textual.pilot import Pilot

from tutor.core.course import Course, open_course
from tutor.runner import Runner
from tutor.ui.app import TutorApp


def make_app(pack: Path, workspace: Path, runner: Runner, *, watch: bool = True) -> TutorApp:
    course: Course = open_course(pack, workspace)
    # A fixed theme: the default follows the terminal (TERM, NO_COLOR), and tests must not.
    return TutorApp(course, runner=runner, watch=watch, theme="textual-dark")


async def settle(pilot: Pilot[int], seconds: float = 0.0) -> None:
    """Let the first lesson open, then timers, workers (and the workers they start) finish."""
    if seconds:
        await asyncio.sleep(seconds)
    await until(pilot, lambda: bool(pilot.app.sub_title))
    for _ in range(20):
        await pilot.pause()
        if not any(worker.is_running for worker in pilot.app.workers):
            break
        await pilot.app.workers.wait_for_complete()
    await pilot.pause()


async def until(pilot: Pilot[int], condition: Callable[[], bool], limit: float = 5.0) -> None:
    """Wait (polling) until ``condition`` holds; fail the test after ``limit`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("the app did not reach the expected state in time")
        await asyncio.sleep(0.05)
        await pilot.pause()


def screen_text(app: TutorApp) -> str:
    """The screen as plain text, line by line, as a terminal would show it."""
    width, height = app.size
    console = Console(
        width=width,
        height=height,
        file=io.StringIO(),
        force_terminal=True,
        color_system="truecolor",
        record=True,
        legacy_windows=False,
        safe_box=False,
    )
    console.print(app.screen._compositor.render_update(full=True))
    return console.export_text()


BOX = str.maketrans(dict.fromkeys("│╭╮╰╯─▏▕▁▂▃▄▅▆▇█", " "))


def reading(text: str) -> str:
    """Text as read across lines: box drawing gone, every run of blanks one space."""
    return " ".join(text.translate(BOX).split())
