"""Driving the real ``attn-tutor`` in a real terminal: a detached tmux session."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import psutil

from tests.conftest import BASICS

SESSION = f"attn-tutor-e2e-{os.getpid()}"


def tmux(*args: str) -> str:
    done = subprocess.run(["tmux", *args], capture_output=True, text=True, check=True)
    return done.stdout


def screen() -> str:
    return tmux("capture-pane", "-t", f"{SESSION}:0", "-p")


def wait_for(condition: Callable[[str], bool], limit: float, what: str) -> float:
    """Poll the screen until ``condition`` holds; returns the seconds it took."""
    start = time.monotonic()
    while time.monotonic() - start < limit:
        if condition(screen()):
            return time.monotonic() - start
        time.sleep(0.1)
    raise AssertionError(f"{what} did not appear within {limit} s; the screen was:\n{screen()}")


def processes(pane_pid: int) -> tuple[psutil.Process, psutil.Process, list[psutil.Process]]:
    """The app, its warm worker, and every process under the pane."""
    pane = psutil.Process(pane_pid)
    family = [pane, *pane.children(recursive=True)]
    app = next(
        p
        for p in family
        if "tutor.worker" not in " ".join(p.cmdline()) and "tutor" in " ".join(p.cmdline())
    )
    worker = next(p for p in family if "tutor.worker.server" in " ".join(p.cmdline()))
    return app, worker, family


def all_gone(family: list[psutil.Process], limit: float) -> list[list[str]]:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        alive = [p for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
        if not alive:
            return []
        time.sleep(0.05)
    return [p.cmdline() for p in alive]


def tutor_command(workspace: Path, *, term: str = "xterm-256color", extra: str = "") -> str:
    """The shell command that opens the tutor on the built-in pack in ``workspace``."""
    return (
        f"TERM={term} {extra} {sys.executable} -m tutor "
        f"--workspace {workspace} --exercises {BASICS.parent}"
    )


def start(command: str, *, cwd: Path, size: tuple[int, int] = (120, 40)) -> None:
    """Run ``command`` in a new detached tmux session of ``size`` (columns, rows)."""
    columns, rows = (str(n) for n in size)
    tmux("new-session", "-d", "-s", SESSION, "-x", columns, "-y", rows, f"cd {cwd} && {command}")


def stop() -> None:
    subprocess.run(["tmux", "kill-session", "-t", SESSION], capture_output=True)


def pane_pid() -> int:
    return int(tmux("display-message", "-p", "-t", f"{SESSION}:0", "#{pane_pid}").strip())
