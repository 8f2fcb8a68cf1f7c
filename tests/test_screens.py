"""Every exercise's screen after a classic mistake, at 80x24: what failed and why, whole.

Each exercise's first mutant runs through the real worker; its events are then replayed into
the app at 80x24, as a save would bring them. Nothing the learner needs may be cut at a
border or hidden below the fold: the first failing test's message and the diagnosis must
read whole on the one screen.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.conftest import LiveRunner
from tests.scripted import ScriptedRunner
from tests.ui_support import make_app, reading, screen_text, settle
from tutor.core.catalog import Exercise, builtin_pack, load
from tutor.core.course import open_course
from tutor.core.protocol import Event, Notice, Outcome, RunStarted
from tutor.core.report import RunReport

pytestmark = pytest.mark.slow

PACK = builtin_pack()
WITH_MUTANTS = [e for e in load(PACK).exercises if e.mutants]


def replay(report: RunReport) -> list[Event]:
    """A finished run's events again, in the order the worker sent them."""
    events: list[Event] = [RunStarted(run_id=1, tests=report.expected)]
    events += [Notice(run_id=1, text=text) for text in report.notices]
    events += [*report.errors, *report.outcomes]
    assert report.finished is not None
    events.append(report.finished)
    if report.probe is not None:
        events.append(report.probe)
    return events


@pytest.mark.parametrize("exercise", WITH_MUTANTS, ids=lambda e: e.key)
def test_a_mistake_reads_whole_at_80x24(
    live_runner: LiveRunner, tmp_path: Path, exercise: Exercise
) -> None:
    mutant = exercise.mutants[0]
    report = live_runner.run(exercise.path, mutant.path)
    assert not report.passed, f"{mutant.path.name} should fail"
    recorded = replay(report)
    workspace = tmp_path / "ws"
    course = open_course(PACK, workspace)
    course.progress.current = exercise.key
    course.save_progress()
    app = make_app(PACK, workspace, ScriptedRunner(lambda _: recorded), watch=False)

    async def scenario() -> str:
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("r")  # as a save would: the results come forward
            await settle(pilot)
            return screen_text(app)

    shown = asyncio.run(scenario())
    lines = shown.splitlines()
    assert len(lines) <= 24
    assert all(len(line) <= 80 for line in lines)
    text = reading(shown)
    failures = [o for o in report.outcomes if o.outcome is Outcome.FAILED]
    if failures:
        first = failures[0]
        assert first.name in text
        assert reading(first.message) in text, f"the reason of {first.name}, whole:\n{shown}"
    else:
        finished = report.finished
        assert finished is not None
        assert reading(finished.verdict.value.upper()) in text
    if report.probe is not None and report.probe.diagnosis:
        assert reading(report.probe.diagnosis) in text, f"the diagnosis, whole:\n{shown}"
