"""A runner that answers from a script of events instead of a real worker, and its scripts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable
from pathlib import Path

from tutor.core.catalog import Exercise
from tutor.core.protocol import (
    CollectionError,
    Event,
    MutantSpec,
    Outcome,
    RunFinished,
    RunStarted,
    TestOutcome,
    Verdict,
)
from tutor.runner import Runner

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
            outcome=Outcome.FAILED,
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
        self.mutants: list[tuple[MutantSpec, ...]] = []
        self.cancelled = 0

    @property
    def running(self) -> bool:
        return self.ready.is_set()

    async def start(self) -> None:
        self.ready.set()

    async def run(self, exercise: Exercise, problem: Path) -> AsyncGenerator[Event, None]:
        source = problem.read_text() if problem.is_file() else ""
        self.started.append(source)
        self.mutants.append(exercise.mutant_specs)
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
