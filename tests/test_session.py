"""The session's rules, without Textual: a fake clock and a scripted runner."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.builders import unscaled
from tests.scripted import ScriptedRunner
from tutor import cli
from tutor.core.catalog import Exercise
from tutor.core.course import Course, open_course
from tutor.core.hints import Fit
from tutor.core.protocol import (
    Event,
    Outcome,
    ProbeResult,
    RunFinished,
    RunStarted,
    TestOutcome,
    Verdict,
)
from tutor.session import (
    DEBOUNCE,
    WATCH_CHECK,
    ExampleArrived,
    Notification,
    ProgressChanged,
    RunJudged,
    Session,
    Severity,
    Update,
)

SOFTMAX_TEST = "test_weights_sum_to_one_over_the_keys"


@dataclass
class Timer:
    due: float
    callback: Callable[[], object]
    cancelled: bool = False

    def cancel(self) -> None:
        self.cancelled = True


@dataclass
class FakeClock:
    """Time moves only when the test says so."""

    now: float = 0.0
    timers: list[Timer] = field(default_factory=list)

    def call_later(self, delay: float, callback: Callable[[], object]) -> Timer:
        timer = Timer(self.now + delay, callback)
        self.timers.append(timer)
        return timer

    def advance(self, seconds: float) -> None:
        self.now += seconds
        due = sorted((t for t in self.timers if t.due <= self.now), key=lambda t: t.due)
        self.timers = [t for t in self.timers if t.due > self.now]
        for timer in due:
            if not timer.cancelled:
                timer.callback()


def verdict_script(verdict: Verdict, *, diagnosis_hint: str = "") -> Callable[[str], list[Event]]:
    """A run of exercise 02 that ends with ``verdict``, its softmax test failing unless passed."""

    def script(_: str) -> list[Event]:
        failed = verdict is not Verdict.PASSED
        events: list[Event] = [
            RunStarted(run_id=1, tests=2),
            TestOutcome(run_id=1, name="test_output_shape"),
            TestOutcome(
                run_id=1,
                name=SOFTMAX_TEST,
                outcome=Outcome.FAILED if failed else Outcome.PASSED,
                message="row 0 of the attention weights sums to 2.66 over the keys" * failed,
            ),
            RunFinished(run_id=1, verdict=verdict, passed=2 - failed, failed=int(failed), total=2),
        ]
        if diagnosis_hint:
            events.append(
                ProbeResult(run_id=1, diagnosis="a known mistake", diagnosis_hint=diagnosis_hint)
            )
        return events

    return script


class Harness:
    """A session on a fresh workspace of the built-in pack, at exercise 02."""

    def __init__(self, tmp_path: Path, runner: ScriptedRunner) -> None:
        self.workspace = tmp_path / "ws"
        self.course: Course = open_course(None, self.workspace)
        basics = self.course.catalog.find("2")
        assert basics is not None
        self.basics: Exercise = basics
        self.course.progress.current = basics.key
        self.clock = FakeClock()
        self.runner = runner
        self.session = Session(self.course, runner, clock=self.clock, watch=False)
        self.updates: list[Update] = []
        self.session.listen(self.updates.append)

    def write(self, text: str, exercise: Exercise | None = None) -> None:
        self.course.problem(exercise or self.basics).write_text(text)

    async def settle(self) -> None:
        """Let every run that has started finish."""
        for _ in range(200):
            await asyncio.sleep(0)
        tasks = [t for t in (self.session.current_run, self.session.queue_run) if t]
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.gather(*tasks)

    def judged(self) -> list[RunJudged]:
        return [u for u in self.updates if isinstance(u, RunJudged)]


def run(scenario: Callable[[], object]) -> None:
    asyncio.run(scenario())  # type: ignore[arg-type]


def test_a_burst_of_writes_runs_once_then_once_more_if_it_changed(tmp_path: Path) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path, ScriptedRunner(verdict_script(Verdict.FAILED)))
        await h.runner.start()
        h.write("first")
        h.session.saved(h.basics.key)  # leading edge: runs at once
        h.session.saved(h.basics.key)
        h.session.saved(h.basics.key)
        await h.settle()
        assert h.runner.started == ["first"]
        h.clock.advance(DEBOUNCE)  # trailing edge: unchanged, no second run
        await h.settle()
        assert h.runner.started == ["first"]
        h.session.saved(h.basics.key)
        h.write("second")  # changed during the burst
        h.clock.advance(DEBOUNCE)
        await h.settle()
        assert h.runner.started == ["first", "second"]

    run(scenario)


def test_a_save_without_a_change_does_not_run(tmp_path: Path) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path, ScriptedRunner(verdict_script(Verdict.FAILED)))
        await h.runner.start()
        h.session.run(h.basics)
        await h.settle()
        h.session.saved(h.basics.key)
        h.clock.advance(DEBOUNCE)
        await h.settle()
        assert len(h.runner.started) == 1

    run(scenario)


def test_a_newer_save_supersedes_the_running_one(tmp_path: Path) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path, ScriptedRunner(verdict_script(Verdict.FAILED), delay=0.05))
        await h.runner.start()
        h.write("old")
        h.session.saved(h.basics.key)
        await asyncio.sleep(0.06)  # the old run is under way
        h.write("new")
        h.clock.advance(DEBOUNCE)
        await h.settle()
        assert h.runner.started == ["old", "new"]
        assert h.runner.cancelled == 1
        assert len(h.judged()) == 1, "only the newest run gives a verdict"
        assert h.session.running is None
        assert h.course.progress.of(h.basics.key).attempts == 1

    run(scenario)


def test_other_exercises_wait_their_turn_and_are_recorded(tmp_path: Path) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path, ScriptedRunner(verdict_script(Verdict.PASSED), delay=0.01))
        await h.runner.start()
        first = h.course.catalog.find("1")
        assert first is not None
        h.session.run(h.basics)
        h.write("changed", first)
        h.session.saved(first.key)
        await h.settle()
        await h.settle()
        keys = [u.exercise.key for u in h.judged()]
        assert keys == [h.basics.key, first.key]
        assert h.course.status(first) == "passing"
        assert h.course.progress.of(first.key).solved

    run(scenario)


def test_the_first_pass_is_the_solved_moment_and_is_saved(tmp_path: Path) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path, ScriptedRunner(verdict_script(Verdict.PASSED)))
        await h.runner.start()
        h.session.run(h.basics)
        await h.settle()
        h.write("again")
        h.session.run(h.basics)
        await h.settle()
        assert [u.first_solve for u in h.judged()] == [True, False]
        stored = json.loads((h.workspace / ".attn-tutor" / "progress.json").read_text())
        assert stored["exercises"][h.basics.key]["status"] == "passing"
        assert stored["exercises"][h.basics.key]["first_solved"]
        assert stored["exercises"][h.basics.key]["attempts"] == 2

    run(scenario)


def test_a_diagnosis_makes_its_hint_the_next_one(tmp_path: Path) -> None:
    async def scenario() -> None:
        script = verdict_script(Verdict.FAILED, diagnosis_hint="weighted-values")
        h = Harness(tmp_path, ScriptedRunner(script))
        await h.runner.start()
        h.session.run(h.basics)
        await h.settle()
        upcoming = h.session.next_hint()
        assert upcoming is not None
        # The diagnosed mistake's hint comes before the one linked to the failing test.
        assert (upcoming.hint.id, upcoming.fit) == ("weighted-values", Fit.DIAGNOSIS)
        assert any(isinstance(u, ProgressChanged) for u in h.updates)
        revealed = h.session.reveal_hint()
        assert revealed is not None
        assert revealed.hint.id == "weighted-values"
        following = h.session.next_hint()
        assert following is not None
        assert (following.hint.id, following.fit) == ("softmax-axis", Fit.FAILURE)

    run(scenario)


def test_the_latest_runs_example_is_kept_until_the_next_run(tmp_path: Path) -> None:
    async def scenario() -> None:
        def script(source: str) -> list[Event]:
            if "fixed" in source:
                return verdict_script(Verdict.PASSED)(source)
            events = verdict_script(Verdict.DIFFERS)(source)
            return [*events, unscaled()]

        h = Harness(tmp_path, ScriptedRunner(script))
        await h.runner.start()
        h.session.run(h.basics)
        await h.settle()
        arrived = [u for u in h.updates if isinstance(u, ExampleArrived)]
        assert [(u.exercise.key, u.example.call) for u in arrived] == [
            (h.basics.key, unscaled().call)
        ]
        # The verdict is drawn first; the example follows it, as the picture does.
        assert h.updates.index(h.judged()[0]) < h.updates.index(arrived[0])
        assert h.session.example() == unscaled()
        assert h.course.progress.of(h.basics.key).solved is False
        h.write("fixed")
        h.session.run(h.basics)
        await h.settle()
        assert h.session.example() is None  # the passing run sent none

    run(scenario)


def test_the_mutants_travel_with_the_run(tmp_path: Path) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path, ScriptedRunner(verdict_script(Verdict.FAILED)))
        await h.runner.start()
        h.session.run(h.basics)
        await h.settle()
        assert h.runner.mutants == [h.basics.mutant_specs]
        assert h.basics.mutant_specs, "exercise 02 has mutants"

    run(scenario)


def test_a_progress_file_that_cannot_be_written_is_said(tmp_path: Path) -> None:
    async def scenario() -> None:
        h = Harness(tmp_path, ScriptedRunner(verdict_script(Verdict.FAILED)))
        await h.runner.start()
        h.course.progress.path = Path("/dev/full/progress.json")
        h.session.run(h.basics)
        await h.settle()
        errors = [u for u in h.updates if isinstance(u, Notification)]
        assert errors
        assert errors[0].severity is Severity.ERROR
        assert "your code is safe" in errors[0].text

    run(scenario)


def test_polling_takes_over_when_no_file_event_arrives(tmp_path: Path) -> None:
    async def scenario() -> None:
        course = open_course(None, tmp_path / "ws")
        clock = FakeClock()
        session = Session(course, ScriptedRunner(verdict_script(Verdict.FAILED)), clock=clock)
        notes: list[Update] = []
        session.listen(notes.append)
        session.start_watching()
        assert not session.polling
        clock.advance(WATCH_CHECK)  # the self-check's event is never delivered here
        assert session.polling
        assert any(isinstance(n, Notification) and "polling" in n.text for n in notes)
        await session.close()

    run(scenario)


def test_polling_is_not_needed_when_the_self_check_arrives(tmp_path: Path) -> None:
    async def scenario() -> None:
        course = open_course(None, tmp_path / "ws")
        clock = FakeClock()
        session = Session(course, ScriptedRunner(verdict_script(Verdict.FAILED)), clock=clock)
        session.start_watching()
        for _ in range(100):  # the real watcher's event, handed over to the loop
            await asyncio.sleep(0.02)
            if session.watch_confirmed:
                break
        clock.advance(WATCH_CHECK)
        assert session.watch_confirmed
        assert not session.polling
        await session.close()

    run(scenario)


# ----- the CLI and the app agree, on the same run


def cli_output(argv: list[str]) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit) as ended:
        cli.main(argv)
    return int(ended.value.code or 0), out.getvalue()


@pytest.mark.parametrize("verdict", list(Verdict), ids=lambda v: v.name)
def test_cli_check_and_the_app_count_attempts_alike(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, verdict: Verdict
) -> None:
    script = verdict_script(verdict)

    async def in_session() -> int:
        h = Harness(tmp_path / "app", ScriptedRunner(script))
        await h.runner.start()
        h.session.run(h.basics)
        await h.settle()
        return h.course.progress.of(h.basics.key).attempts

    app_attempts = asyncio.run(in_session())
    monkeypatch.setattr(cli, "Runner", lambda **_: ScriptedRunner(script))
    workspace = tmp_path / "cli" / "ws"
    cli_output(["check", "2", "--workspace", str(workspace)])
    stored = open_course(None, workspace).progress
    cli_attempts = stored.of("02-attention-basics").attempts
    assert cli_attempts == app_attempts == int(verdict.counts_as_attempt)


def test_cli_hint_and_the_app_give_the_same_next_hint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """After one run that shows a diagnosed mistake, both offer its hint, then the same next."""
    script = verdict_script(Verdict.FAILED, diagnosis_hint="weighted-values")

    async def in_session() -> list[str]:
        h = Harness(tmp_path / "app", ScriptedRunner(script))
        await h.runner.start()
        h.session.run(h.basics)
        await h.settle()
        shown = []
        for _ in range(2):
            revealed = h.session.reveal_hint()
            assert revealed is not None
            shown.append(revealed.hint.text)
        return shown

    app_hints = asyncio.run(in_session())
    monkeypatch.setattr(cli, "Runner", lambda **_: ScriptedRunner(script))
    workspace = str(tmp_path / "cli" / "ws")
    code, checked = cli_output(["check", "2", "--workspace", workspace])
    assert code == 1
    assert "a hint fits the mistake your weights show: attn-tutor hint 2" in checked
    cli_hints = [cli_output(["hint", "2", "--workspace", workspace])[1] for _ in range(2)]
    for app_hint, cli_hint in zip(app_hints, cli_hints, strict=True):
        assert app_hint in cli_hint


def test_the_session_never_imports_textual() -> None:
    code = "import sys, tutor.session, tutor.cli; print('textual' in sys.modules)"
    shown = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert shown.stdout.strip() == "False", shown.stderr


class SlowToStart(ScriptedRunner):
    """A worker that is still warming up until the test lets it be ready."""

    def __init__(self) -> None:
        super().__init__(verdict_script(Verdict.FAILED))
        self.warm = asyncio.Event()

    async def wait_ready(self) -> bool:
        await self.warm.wait()
        return True


def test_quitting_while_the_worker_warms_up_starts_no_run(tmp_path: Path) -> None:
    """q pressed before the worker is ready: nothing runs afterwards, so no second worker."""
    runner = SlowToStart()
    harness = Harness(tmp_path, runner)

    async def scenario() -> None:
        starting = asyncio.create_task(harness.session.start())
        await asyncio.sleep(0)
        await harness.session.close()
        runner.warm.set()
        await starting
        await harness.settle()
        harness.session.run(harness.basics)  # a late key press, after the close
        await harness.settle()

    run(scenario)
    assert runner.started == []
