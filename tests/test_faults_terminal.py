"""The fault suite, part three: the terminal around the real ``attn-tutor`` process.

Signals that end it (the SSH link dropping, a kill, Ctrl-C from outside), a terminal that
goes without a signal, and terminals that cannot show it or can show it only plainly.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psutil
import pytest
from textual.app import App

from tests.conftest import BASICS
from tests.terminal import (
    SESSION,
    all_gone,
    pane_pid,
    processes,
    screen,
    start,
    stop,
    tmux,
    tutor_command,
    wait_for,
)
from tutor.core.course import open_course
from tutor.ui.terminal import TerminalDriver, TerminalGone

pytestmark = [pytest.mark.fault, pytest.mark.slow]
needs_tmux = pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")

FIRST = "01-dot-products-and-softmax"
SECOND = "02-attention-basics"
DOWN, UP = b"\x1b[B", b"\x1b[A"


@needs_tmux
@pytest.mark.parametrize("number", [signal.SIGHUP, signal.SIGTERM, signal.SIGINT], ids=str)
def test_a_signal_saves_progress_and_ends_everything(
    tutor: tuple[Path, int], number: signal.Signals
) -> None:
    workspace, pane = tutor
    wait_for(lambda s: "fill in the TODOs" in s, 120, "a first run")
    tmux("send-keys", "-t", f"{SESSION}:0", "n")  # the place to come back to
    wait_for(lambda s: "attn-tutor — 02 Attention basics" in s, 10, "exercise 02")
    app, _, family = processes(pane)
    stored = workspace / ".attn-tutor" / "progress.json"
    stored.unlink()  # the app saved on the move; only the save at the signal can bring it back
    app.send_signal(number)
    assert all_gone(family, 2.0) == []
    progress = json.loads(stored.read_text())
    assert progress["current"] == "02-attention-basics"
    attempts = progress["exercises"]["01-dot-products-and-softmax"]["attempts"]
    assert attempts >= 1


@needs_tmux
def test_a_dumb_terminal_gets_told_what_is_needed(tmp_path: Path) -> None:
    command = tutor_command(tmp_path / "ws", term="dumb") + "; echo EXIT=$?; sleep 60"
    start(command, cwd=tmp_path)
    try:
        shown = wait_for(lambda s: "EXIT=" in s, 30, "the exit")
        assert shown < 30
        text = " ".join(screen().split())
        assert "EXIT=2" in text
        assert "TERM is 'dumb'" in text
        assert "attn-tutor check EX" in text
        assert "Traceback" not in text
    finally:
        stop()


def test_no_terminal_at_all_gets_told_what_is_needed(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tutor", "--workspace", str(tmp_path / "ws")],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2
    assert "needs an interactive terminal" in done.stderr
    assert "Traceback" not in done.stderr


@needs_tmux
@pytest.mark.parametrize(
    ("term", "extra"),
    [("vt100", ""), ("linux", ""), ("xterm-256color", "NO_COLOR=1")],
    ids=["vt100", "linux console", "NO_COLOR"],
)
def test_minimal_terminals_show_the_tutor(tmp_path: Path, term: str, extra: str) -> None:
    start(tutor_command(tmp_path / "ws", term=term, extra=extra), cwd=tmp_path)
    try:
        wait_for(lambda s: "Lesson" in s and "fill in the TODOs" in s, 120, "the first run")
        text = screen()
        assert "01 Dot products and a softmax" in text
        _, _, family = processes(pane_pid())
        tmux("send-keys", "-t", f"{SESSION}:0", "q")
        assert all_gone(family, 5.0) == []
    finally:
        stop()


@needs_tmux
def test_the_terminal_is_given_back_after_a_resize_to_40x12(tmp_path: Path) -> None:
    start(tutor_command(tmp_path / "ws"), cwd=tmp_path)
    try:
        wait_for(lambda s: "Lesson" in s, 60, "the app")
        tmux("resize-window", "-t", SESSION, "-x", "40", "-y", "12")
        wait_for(lambda s: "at least 60x15" in " ".join(s.split()), 10, "the size message")
        tmux("resize-window", "-t", SESSION, "-x", "120", "-y", "40")
        wait_for(lambda s: "Lesson" in s and "Dot products" in s, 10, "the panes again")
        assert "at least 60x15" not in " ".join(screen().split())
    finally:
        stop()


# ----- a terminal that goes without a signal


def open_in_pty(
    workspace: Path, *, stderr: int | None = None
) -> tuple[subprocess.Popen[bytes], int]:
    """The real tutor on a new 80x24 pty; returns the process and the pty's far end."""
    master, slave = os.openpty()
    termios.tcsetwinsize(slave, (24, 80))
    command = [sys.executable, "-m", "tutor", "--workspace", str(workspace)]
    app = subprocess.Popen(
        [*command, "--exercises", str(BASICS.parent)],
        stdin=slave,
        stdout=slave,
        stderr=slave if stderr is None else stderr,
        # A session of its own that never makes the pty its controlling terminal, as
        # `setsid attn-tutor` in tmux: when the far end closes, the kernel sends no SIGHUP.
        start_new_session=True,
        cwd=workspace.parent,
        env={**os.environ, "TERM": "xterm-256color"},
    )
    os.close(slave)
    return app, master


def pump(master: int, condition: Callable[[], bool], limit: float, what: str) -> None:
    """Read what the app draws (so that it never waits on a full pty) until ``condition``."""
    deadline = time.monotonic() + limit
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen within {limit} s")
        if select.select([master], [], [], 0.1)[0]:
            os.read(master, 65536)


def pause(master: int, seconds: float) -> None:
    """Read what the app draws for ``seconds``."""
    until = time.monotonic() + seconds
    pump(master, lambda: time.monotonic() > until, seconds + 1, "a pause")


def attempts(progress: Path, key: str) -> int:
    with contextlib.suppress(OSError, ValueError, KeyError):
        return int(json.loads(progress.read_text())["exercises"][key]["attempts"])
    return 0


def two_runs(app: subprocess.Popen[bytes], master: int, progress: Path) -> list[psutil.Process]:
    """Wait for the first run, open exercise 02 and wait for its run; returns the processes."""
    pump(master, lambda: attempts(progress, FIRST) >= 1, 120, "a first run")
    os.write(master, b"n")
    pump(master, lambda: attempts(progress, SECOND) >= 1, 60, "a run of exercise 02")
    pause(master, 1.0)  # the run's picture drawn: the 2 s below are the exit's alone
    family = [psutil.Process(app.pid), *psutil.Process(app.pid).children(recursive=True)]
    assert any("tutor.worker.server" in " ".join(p.cmdline()) for p in family)
    # Every run is saved by now: only the save on the way out can write the file again.
    progress.unlink()
    return family


def end(app: subprocess.Popen[bytes], family: list[psutil.Process]) -> None:
    for process in family:
        with contextlib.suppress(psutil.NoSuchProcess):
            process.kill()
    app.kill()
    app.wait()


def assert_saved(progress: Path) -> None:
    saved = json.loads(progress.read_text())
    assert saved["current"] == SECOND
    assert saved["exercises"][FIRST]["attempts"] >= 1
    assert saved["exercises"][SECOND]["attempts"] >= 1


def test_a_terminal_that_goes_without_a_signal_ends_everything(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    progress = workspace / ".attn-tutor" / "progress.json"
    app, master = open_in_pty(workspace)
    family: list[psutil.Process] = []
    try:
        family = two_runs(app, master, progress)
        os.close(master)  # the terminal's far end goes: the app reads end-of-file, no SIGHUP
        master = -1
        left = all_gone(family, 2.0)
    finally:
        if master >= 0:
            os.close(master)
        end(app, family)
    assert left == [], f"still running 2 s after the terminal went: {left}"
    assert_saved(progress)


@pytest.mark.parametrize("number", [signal.SIGHUP, signal.SIGTERM], ids=str)
def test_a_signal_ends_the_app_when_the_terminal_refuses_its_output(
    tmp_path: Path, number: signal.Signals
) -> None:
    """Every frame fails to be written; keys still come. A signal must still be heard."""
    workspace = tmp_path / "ws"
    progress = workspace / ".attn-tutor" / "progress.json"
    # A new workspace is announced on stderr before the app starts: make it beforehand.
    open_course(BASICS.parent, workspace)
    with open("/dev/full", "wb") as full:  # every write fails (ENOSPC)
        app, master = open_in_pty(workspace, stderr=full.fileno())
    family: list[psutil.Process] = []
    try:
        family = two_runs(app, master, progress)
        # Textual queues at most 30 frames for a terminal; these make more, and each fails.
        for key in [DOWN, UP] * 20:  # the lesson scrolled and drawn again
            os.write(master, key)
            pause(master, 0.05)
        pause(master, 1.0)
        app.send_signal(number)
        left = all_gone(family, 2.0)
    finally:
        os.close(master)
        end(app, family)
    assert left == [], f"still running 2 s after {number.name}: {left}"
    assert_saved(progress)


class Listener(App[None]):
    """An app that counts the TerminalGone messages it gets."""

    def __init__(self) -> None:
        super().__init__()
        self.gone = 0

    def on_terminal_gone(self, _: TerminalGone) -> None:
        self.gone += 1


def test_an_error_reading_the_terminal_means_it_is_gone(tmp_path: Path) -> None:
    """EIO from the input, which Textual would take for a crash of its own."""
    kept = {number: signal.getsignal(number) for number in (signal.SIGTSTP, signal.SIGCONT)}

    async def scenario() -> None:
        app = Listener()
        async with app.run_test() as pilot:
            driver = TerminalDriver(app)
            # select() finds a folder readable, and reading it fails: an OSError, as EIO.
            driver.fileno = os.open(tmp_path, os.O_RDONLY)
            reader = threading.Thread(target=driver.run_input_thread)
            reader.start()
            reader.join(5)
            os.close(driver.fileno)
            assert not reader.is_alive()
            assert driver.exit_event.is_set()
            for _ in range(50):
                if app.gone:
                    break
                await pilot.pause(0.05)
            assert app.gone == 1

    try:
        asyncio.run(scenario())
    finally:
        for number, handler in kept.items():
            signal.signal(number, handler)
