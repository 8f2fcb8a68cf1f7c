"""SVG snapshots of the app at 80x24 and 160x48: start, failing, passing, collection error."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from tests.conftest import WILD_PACK
from tests.scripted import Script, ScriptedRunner, broken, failing, passing
from tests.ui_support import make_app, settle
from tutor.core.course import open_course
from tutor.core.protocol import ProbeResult, RunFinished, RunStarted, TestOutcome, Verdict
from tutor.ui.app import TutorApp

# The status line shows the workspace path, so snapshots use a fixed one.
WORKSPACE = Path("/tmp/attn-tutor-snapshots/ws")
SIZES = {"80x24": (80, 24), "160x48": (160, 48)}


def never(_: str) -> list[Any]:
    raise AssertionError("the start screen is taken before any run")


@pytest.fixture
def workspace(monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.rmtree(WORKSPACE, ignore_errors=True)
    open_course(WILD_PACK, WORKSPACE)  # first use done: no "your workspace is" toast
    monkeypatch.setattr("tutor.session.time.strftime", lambda *_: "12:00:00")
    monkeypatch.delenv("NO_COLOR", raising=False)  # the pictures are of the colour app
    return WORKSPACE


def take(snap_compare: Callable[..., bool], script: Script, size: str, *, run: bool) -> bool:
    """The app after the learner asks for a run (r), or before any run at all."""
    runner = ScriptedRunner(script)
    if not run:
        runner.start = _never_ready  # type: ignore[method-assign]
    app = make_app(WILD_PACK, WORKSPACE, runner, watch=False)

    async def before(pilot: Pilot[int]) -> None:
        if run:
            await settle(pilot)
            await pilot.press("r")  # as a save would: the results come forward
            await settle(pilot)
        else:
            await pilot.pause()  # the worker is still "warming up": nothing to wait for

    return snap_compare(app, terminal_size=SIZES[size], run_before=before)


async def _never_ready() -> None:
    return None


@pytest.mark.parametrize("size", SIZES)
def test_start_screen(snap_compare: Callable[..., bool], workspace: Path, size: str) -> None:
    assert take(snap_compare, never, size, run=False)


@pytest.mark.parametrize("size", SIZES)
def test_failing_run(snap_compare: Callable[..., bool], workspace: Path, size: str) -> None:
    assert take(snap_compare, failing, size, run=True)


@pytest.mark.parametrize("size", SIZES)
def test_passing_run(snap_compare: Callable[..., bool], workspace: Path, size: str) -> None:
    assert take(snap_compare, passing, size, run=True)


@pytest.mark.parametrize("size", SIZES)
def test_collection_error(snap_compare: Callable[..., bool], workspace: Path, size: str) -> None:
    assert take(snap_compare, broken, size, run=True)


PICTURE_PACK = WILD_PACK.parent / "picture"
CAUSAL = [[j <= i for j in range(6)] for i in range(6)]


def tokens_probe() -> ProbeResult:
    """A causal picture with a leak and a row that does not sum to 1."""
    reference = [[1.0 / (i + 1) if j <= i else 0.0 for j in range(6)] for i in range(6)]
    learner = [row[:] for row in reference]
    learner[2] = [0.3, 0.3, 0.2, 0.2, 0.0, 0.0]  # weight on a future key: a leak
    learner[4] = [0.5, 0.5, 0.5, 0.5, 0.31, 0.0]  # sums to 2.31
    return ProbeResult(
        run_id=1,
        queries=["The", "cat", "sat", "on", "the", "mat"],
        keys=["The", "cat", "sat", "on", "the", "mat"],
        learner=[learner],
        reference=[reference],
        allowed=CAUSAL,
        diagnosis="Your weights match a known mistake: the mask applied after the softmax.",
    )


def picture_run(source: str) -> list[Any]:
    events = failing(source)
    return [*events, tokens_probe()]  # the verdict first, the picture after it


def picture_app(monkeypatch: pytest.MonkeyPatch, script: Script) -> TutorApp:
    """The picture pack in a fresh workspace, with a fixed clock and colour allowed."""
    shutil.rmtree(WORKSPACE, ignore_errors=True)
    open_course(PICTURE_PACK, WORKSPACE)
    monkeypatch.setattr("tutor.session.time.strftime", lambda *_: "12:00:00")
    monkeypatch.delenv("NO_COLOR", raising=False)
    return make_app(PICTURE_PACK, WORKSPACE, ScriptedRunner(script), watch=False)


@pytest.mark.parametrize("size", SIZES)
def test_attention_pane(
    snap_compare: Callable[..., bool], monkeypatch: pytest.MonkeyPatch, size: str
) -> None:
    app = picture_app(monkeypatch, picture_run)
    assert snap_compare(app, terminal_size=SIZES[size], run_before=saved_and_settled)


def heads_probe() -> ProbeResult:
    """Three causal heads; the learner's second lets "sat" look ahead at "on"."""
    causal = [[1.0 / (i + 1) if j <= i else 0.0 for j in range(6)] for i in range(6)]
    ahead = [row[:] for row in causal]
    ahead[2] = [0.3, 0.3, 0.2, 0.2, 0.0, 0.0]
    recent = [[1.0 if j == i else 0.0 for j in range(6)] for i in range(6)]
    steps = ["linear (1, 6, 12)"] * 3 + ["matmul (1, 3, 6, 6)", "softmax (1, 3, 6, 6)"]
    return ProbeResult(
        run_id=1,
        queries=["The", "cat", "sat", "on", "the", "mat"],
        keys=["The", "cat", "sat", "on", "the", "mat"],
        learner=[causal, ahead, recent],
        reference=[causal, causal, recent],
        allowed=CAUSAL,
        learner_trace=steps,
        reference_trace=steps,
        step_names=["Q = x W_q", "K = x W_k", "V = x W_v", "scores = Q K^T", "weights = softmax"],
    )


@pytest.mark.parametrize("size", SIZES)
def test_attention_all_heads(
    snap_compare: Callable[..., bool], monkeypatch: pytest.MonkeyPatch, size: str
) -> None:
    """The overview (a) of a three-head picture, head 2 marked as different."""

    def run(source: str) -> list[Any]:
        return [*failing(source), heads_probe()]

    app = picture_app(monkeypatch, run)

    async def before(pilot: Pilot[int]) -> None:
        await saved_and_settled(pilot)
        await pilot.press("a")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZES[size], run_before=before)


async def saved_and_settled(pilot: Pilot[int]) -> None:
    """Started, then a run the learner asked for (r), finished."""
    await settle(pilot)
    await pilot.press("r")
    await settle(pilot)


def verdict_run(verdict: Verdict, message: str, output: str = "") -> Script:
    def run(_: str) -> list[Any]:
        return [
            RunStarted(run_id=1, tests=2),
            TestOutcome(run_id=1, name="test_attend", file="test_picture.py"),
            RunFinished(
                run_id=1, verdict=verdict, passed=1, total=2, message=message, output=output
            ),
        ]

    return run


@pytest.mark.parametrize("size", SIZES)
def test_a_revealed_hint(
    snap_compare: Callable[..., bool], monkeypatch: pytest.MonkeyPatch, size: str
) -> None:
    """h after a failing run: the hint that fits it, whole, from its first line."""
    app = picture_app(monkeypatch, picture_run)

    async def before(pilot: Pilot[int]) -> None:
        await saved_and_settled(pilot)
        await pilot.press("h")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZES[size], run_before=before)


@pytest.mark.parametrize("size", SIZES)
def test_a_timeout(
    snap_compare: Callable[..., bool], monkeypatch: pytest.MonkeyPatch, size: str
) -> None:
    message = "the tests did not finish within 10 s (the last test to finish was test_attend)"
    app = picture_app(monkeypatch, verdict_run(Verdict.TIMED_OUT, message))
    assert snap_compare(app, terminal_size=SIZES[size], run_before=saved_and_settled)


@pytest.mark.parametrize("size", SIZES)
def test_a_crash(
    snap_compare: Callable[..., bool], monkeypatch: pytest.MonkeyPatch, size: str
) -> None:
    message = (
        "the test process crashed with SIGSEGV after test_attend: native code (ctypes, a "
        "bad tensor operation) failed hard"
    )
    output = "calling into the C library\nabout to read the pointer\n"
    app = picture_app(monkeypatch, verdict_run(Verdict.CRASHED, message, output))
    assert snap_compare(app, terminal_size=SIZES[size], run_before=saved_and_settled)


@pytest.mark.parametrize("size", SIZES)
def test_the_solved_moment(
    snap_compare: Callable[..., bool], monkeypatch: pytest.MonkeyPatch, size: str
) -> None:
    app = picture_app(monkeypatch, passing)
    assert snap_compare(app, terminal_size=SIZES[size], run_before=saved_and_settled)


@pytest.mark.parametrize("size", SIZES)
def test_the_exercise_list(snap_compare: Callable[..., bool], workspace: Path, size: str) -> None:
    app = make_app(WILD_PACK, WORKSPACE, ScriptedRunner(failing), watch=False)

    async def before(pilot: Pilot[int]) -> None:
        await saved_and_settled(pilot)
        await pilot.press("l")
        await pilot.pause()

    assert snap_compare(app, terminal_size=SIZES[size], run_before=before)
