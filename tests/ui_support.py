"""A scripted runner and helpers for driving the app headless."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from textual.pilot import Pilot

from tutor.core.course import Course, open_course
from tutor.core.protocol import (
    CollectionError,
    Event,
    RunFinished,
    RunStarted,
    TestOutcome,
    Verdict,
)
from tutor.runner import Runner
from tutor.ui.app import TutorApp

Script = Callable[[str], list[Event]]


def passing(_: str) -> list[Event]:
    return [
        RunStarted(run_id=1, tests=2),
        TestOutcome(run_id=1, name="test_add", file="test_plain.py", duration=0.01),
        TestOutcome(run_id=1, name="test_add_negative", file="test_plain.py", duration=0.01),
        RunFinished(run_id=1, verdict=Verdict.PASSED, passed=2, total=2, duration=0.25),
    ]


def failing(_: str) -> list[Event]:
    return [
        RunStarted(run_id=1, tests=2),
        TestOutcome(run_id=1, name="test_add", file="test_plain.py"),
        TestOutcome(
            run_id=1,
            name="test_add_negative",
            file="test_plain.py",
            outcome="failed",
            message="add(-2, 1) returned 3, expected -1",
            line=2,
        ),
        RunFinished(run_id=1, verdict=Verdict.FAILED, passed=1, failed=1, total=2, duration=0.25),
    ]


def broken(_: str) -> list[Event]:
    return [
        CollectionError(
            run_id=1, file="problem.py", line=3, message="SyntaxError: '(' was never closed"
        ),
        RunFinished(
            run_id=1,
            verdict=Verdict.ERROR,
            message="problem.py could not be imported (line 3): SyntaxError: '(' was never closed",
            duration=0.2,
        ),
    ]


def by_content(source: str) -> list[Event]:
    """Passes when the learner's file returns a + b, fails otherwise."""
    return passing(source) if "\n    return a + b" in source else failing(source)


class ScriptedRunner(Runner):
    """Answers runs from a script of events instead of a real worker."""

    def __init__(self, script: Script, delay: float = 0.0) -> None:
        super().__init__()
        self.script = script
        self.delay = delay
        self.started: list[str] = []
        self.cancelled = 0

    @property
    def running(self) -> bool:
        return self.ready.is_set()

    async def start(self) -> None:
        self.ready.set()

    async def run(self, exercise_dir: Path, problem: Path) -> AsyncIterator[Event]:
        source = problem.read_text() if problem.is_file() else ""
        self.started.append(source)
        finished = False
        try:
            for event in self.script(source):
                if self.delay:
                    await asyncio.sleep(self.delay)
                finished = isinstance(event, RunFinished)
                yield event
        finally:
            if not finished:
                self.cancelled += 1

    async def close(self) -> None:
        self.ready.clear()


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
