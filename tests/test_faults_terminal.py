"""The fault suite, part three: the terminal around the real ``attn-tutor`` process.

Signals that end it (the SSH link dropping, a kill, Ctrl-C from outside), and terminals
that cannot show it or can show it only plainly.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

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

pytestmark = [
    pytest.mark.fault,
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux"),
]


@pytest.mark.parametrize("number", [signal.SIGHUP, signal.SIGTERM, signal.SIGINT], ids=str)
def test_a_signal_saves_progress_and_ends_everything(
    tutor: tuple[Path, int], number: signal.Signals
) -> None:
    workspace, pane = tutor
    wait_for(lambda s: "fill in the TODOs" in s, 120, "a first run")
    tmux("send-keys", "-t", f"{SESSION}:0", "n")  # the place to come back to
    wait_for(lambda s: "attn-tutor — 02 Attention basics" in s, 10, "exercise 02")
    app, _, family = processes(pane)
    app.send_signal(number)
    assert all_gone(family, 2.0) == []
    progress = json.loads((workspace / ".attn-tutor" / "progress.json").read_text())
    assert progress["current"] == "02-attention-basics"
    attempts = progress["exercises"]["01-dot-products-and-softmax"]["attempts"]
    assert attempts >= 1


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
