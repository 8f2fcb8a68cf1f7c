"""The real ``attn-tutor`` in a real terminal (tmux), with real editors saving the file."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import BASICS
from tests.terminal import (
    SESSION,
    all_gone,
    processes,
    screen,
    start,
    stop,
    tmux,
    tutor_command,
    wait_for,
)
from tutor.core.course import open_course

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux"),
]


def test_saves_show_verdicts_and_quit_leaves_nothing(tutor: tuple[Path, int]) -> None:
    workspace, pane_pid = tutor
    problem = workspace / "01-dot-products-and-softmax" / "problem.py"
    wait_for(lambda s: "warming up" not in s and "fill in the TODOs" in s, 120, "a first run")
    app = psutil.Process(pane_pid)
    family = [app, *app.children(recursive=True)]

    # An atomic save, the way vim and JetBrains write: a new file renamed over the old one.
    solution = (BASICS.parent / "01-dot-products-and-softmax" / "solution.py").read_text()
    temporary = problem.with_name("problem.py.new")
    temporary.write_text(solution)
    os.replace(temporary, problem)
    seconds = wait_for(lambda s: "PASSED" in s, 5, "the passing verdict")
    assert seconds < 5

    # sed -i: an in-place edit through a temporary file; break the file on purpose.
    subprocess.run(["sed", "-i", "s/^import torch$/import torch(/", str(problem)], check=True)
    wait_for(lambda s: "ERROR" in s and "problem.py" in s, 5, "the syntax error")

    if shutil.which("vim"):
        # A real editor in a second window undoes the break and saves.
        tmux("new-window", "-t", SESSION, f"vim -u NONE -n {problem}")
        time.sleep(0.5)
        tmux("send-keys", "-t", f"{SESSION}:1", ":%s/^import torch($/import torch/", "Enter")
        tmux("send-keys", "-t", f"{SESSION}:1", ":wq", "Enter")
        wait_for(lambda s: "PASSED" in s, 5, "the verdict after vim's save")

    tmux("send-keys", "-t", f"{SESSION}:0", "q")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(
        p.is_running() and p.status() != "zombie" for p in family
    ):
        time.sleep(0.1)
    left = [p.cmdline() for p in family if p.is_running() and p.status() != "zombie"]
    assert not left, f"processes left after q: {left}"


def test_a_dropped_terminal_saves_progress_and_ends_everything(tutor: tuple[Path, int]) -> None:
    workspace, pane_pid = tutor
    wait_for(lambda s: "fill in the TODOs" in s, 120, "a first run")
    _, _, family = processes(pane_pid)
    tmux("kill-session", "-t", SESSION)  # the terminal goes away: SIGHUP
    assert all_gone(family, 2.0) == []
    progress = (workspace / ".attn-tutor" / "progress.json").read_text()
    assert '"current": "01-dot-products-and-softmax"' in progress


def test_after_sigkill_of_the_app_the_worker_ends_by_itself(tutor: tuple[Path, int]) -> None:
    _, pane_pid = tutor
    wait_for(lambda s: "fill in the TODOs" in s, 120, "a first run")
    app, worker, _ = processes(pane_pid)
    app.kill()
    assert all_gone([worker], 1.0) == []


def test_a_save_draws_the_attention_picture(tutor: tuple[Path, int]) -> None:
    workspace, _ = tutor
    wait_for(lambda s: "warming up" not in s and "fill in the TODOs" in s, 120, "a first run")
    tmux("send-keys", "-t", f"{SESSION}:0", "n")
    wait_for(lambda s: "Attention basics" in s and "Attention ─" in s, 10, "exercise 02's panes")
    mistake = BASICS / "mutants" / "softmax_over_queries.py"
    shutil.copy(mistake, workspace / BASICS.name / "problem.py")
    wait_for(lambda s: "reference" in s and "The   │" in s, 5, "the attention matrix")
    wait_for(lambda s: "Your weights match" in s, 5, "the diagnosis")


@pytest.mark.skipif(shutil.which("vim") is None, reason="needs vim")
def test_at_80x24_a_wrong_save_from_vim_shows_why_with_no_key_pressed(tmp_path: Path) -> None:
    """The reference screen: what failed, why, and the diagnosis, without a key or a scroll."""
    workspace = tmp_path / "ws"
    course = open_course(BASICS.parent, workspace)
    course.progress.current = BASICS.name
    course.save_progress()
    start(tutor_command(workspace), cwd=tmp_path, size=(80, 24))
    try:
        wait_for(lambda s: "Lesson" in s and "last run" in s, 120, "the lesson, after a first run")
        assert "Results" not in screen(), "the lesson stays until the learner saves"
        problem = workspace / BASICS.name / "problem.py"
        mistake = BASICS / "mutants" / "softmax_over_queries.py"
        tmux("new-window", "-t", SESSION, f"vim -u NONE -n {problem}")
        time.sleep(0.5)
        for keys in (":%d", f":r {mistake}", ":1d", ":wq"):
            tmux("send-keys", "-t", f"{SESSION}:1", keys, "Enter")
        tmux("select-window", "-t", f"{SESSION}:0")
        wait_for(lambda s: "Your weights match" in s, 10, "the diagnosis")
        shown = screen()
        assert "FAILED" in shown
        assert "✗ test_weights_sum_to_one_over_the_keys" in shown
        reason = " ".join(line.strip("│ ") for line in shown.splitlines())
        assert "sums to 0.7204 over the keys; softmax should normalise over the last" in reason
        assert "dimension (the keys) so every row sums to 1" in reason, "the reason, whole"
        assert "softmax over the query axis (dim=-2) instead of the keys" in reason
        rows = [line for line in shown.splitlines() if "│ mat   │" in line]
        assert rows, "the last row of the 6-token matrix is on screen"
        assert "reference" in shown
        assert len(shown.splitlines()) <= 24
    finally:
        stop()
