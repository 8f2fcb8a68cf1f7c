"""Shared fixtures: fixture packs, a learner workspace, and a warm runner per module."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tutor.core.catalog import Exercise, builtin_pack
from tutor.core.report import RunReport
from tutor.runner import Runner, exercise_at

TESTS = Path(__file__).parent
WILD_PACK = TESTS / "packs" / "wild"
BASICS = builtin_pack() / "02-attention-basics"


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """No test touches the real home folder or an inherited workspace setting."""
    home = tmp_path / ".home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("ATTN_TUTOR_WORKSPACE", raising=False)
    return home


class LiveRunner:
    """A Runner and the event loop it lives on, shared by the tests of one module."""

    def __init__(self, timeout: float | None) -> None:
        """``timeout`` None: each exercise's own limit, as the pack sets it."""
        self.loop = asyncio.new_event_loop()
        self.runner = Runner(timeout=timeout)
        self.loop.run_until_complete(self.runner.start())

    def run(self, exercise: Exercise | Path, problem: Path) -> RunReport:
        """One run; an exercise folder is read first, with its pack's limits."""
        if isinstance(exercise, Path):
            exercise = exercise_at(exercise)

        async def collect() -> RunReport:
            report = RunReport()
            async for event in self.runner.run(exercise, problem):
                report.add(event)
            return report

        return self.loop.run_until_complete(collect())

    def close(self) -> None:
        self.loop.run_until_complete(self.runner.close())
        self.loop.close()


@pytest.fixture(scope="module")
def live_runner() -> Iterator[LiveRunner]:
    live = LiveRunner(timeout=4.0)
    yield live
    live.close()


@pytest.fixture
def tutor(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """The tutor open in a detached tmux session; yields the workspace and the pane's pid."""
    from tests.terminal import pane_pid, start, stop, tutor_command, wait_for

    workspace = tmp_path / "ws"
    start(tutor_command(workspace), cwd=tmp_path)
    try:
        wait_for(lambda s: "Lesson" in s, 30, "the app")
        yield workspace, pane_pid()
    finally:
        stop()
