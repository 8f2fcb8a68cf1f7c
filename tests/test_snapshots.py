"""SVG snapshots of the app at 80x24 and 160x48: start, failing, passing, collection error."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from tests.conftest import WILD_PACK
from tests.ui_support import Script, ScriptedRunner, broken, failing, make_app, passing, settle
from tutor.core.course import open_course

# The status line shows the workspace path, so snapshots use a fixed one.
WORKSPACE = Path("/tmp/attn-tutor-snapshots/ws")
SIZES = {"80x24": (80, 24), "160x48": (160, 48)}


def never(_: str) -> list[Any]:
    raise AssertionError("the start screen is taken before any run")


@pytest.fixture
def workspace(monkeypatch: pytest.MonkeyPatch) -> Path:
    shutil.rmtree(WORKSPACE, ignore_errors=True)
    open_course(WILD_PACK, WORKSPACE)  # first use done: no "your workspace is" toast
    monkeypatch.setattr("tutor.ui.app.time.strftime", lambda *_: "12:00:00")
    monkeypatch.delenv("NO_COLOR", raising=False)  # the pictures are of the colour app
    return WORKSPACE


def take(snap_compare: Callable[..., bool], script: Script, size: str, *, run: bool) -> bool:
    runner = ScriptedRunner(script)
    if not run:
        runner.start = _never_ready  # type: ignore[method-assign]
    app = make_app(WILD_PACK, WORKSPACE, runner, watch=False)

    async def before(pilot: Pilot[int]) -> None:
        if run:
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
