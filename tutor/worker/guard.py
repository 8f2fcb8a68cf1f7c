"""Keep learner code from changing the tools that judge it, and from speaking for the run.

Three defences, all set up in the test child before the learner's file is imported:

- ``Tools`` remembers torch's, pytest's, ``tutor.kit``'s and Python's built-in names and
  puts back any the learner's code replaced (``torch.allclose = lambda *a: True``), so a
  test always compares with the real thing. Each replaced name is reported once.
- ``limit_processes`` caps how many processes the run may create in all, shared by every
  copy, so a fork loop ends with an ordinary error instead of filling the machine. (As
  root, ``RLIMIT_NPROC`` does not apply, so the cap is kept here.)
- ``is_original`` tells the run's own process from a copy the learner forked: only the
  original may send events to the tutor.
"""

from __future__ import annotations

import errno
import importlib
import mmap
import os
import subprocess
from collections.abc import Callable
from types import ModuleType
from typing import Any

import pytest

# What the tests lean on. Names added by the learner are left alone; replaced or deleted
# ones are put back.
GUARDED = (
    "builtins",
    "math",
    "torch",
    "torch.nn.functional",
    "torch.testing",
    "torch:Tensor",
    "torch.nn:Module",
    # Tests take the kit's names from the package; its helpers call each other through
    # the submodules' globals, so those are kept too.
    "tutor.kit",
    "tutor.kit.assertions",
    "tutor.kit.capture",
    "pytest",
    "_pytest.python",
    "_pytest.runner",
    "_pytest.outcomes",
)
PROCESS_LIMIT = 32  # processes a run may create, in all its copies together
_ORIGINAL_PID = os.getpid()


def is_original() -> bool:
    """True in the run's own process, False in a copy forked by the learner's code."""
    return os.getpid() == _ORIGINAL_PID


def mark_original() -> None:
    """Called first thing in a new run's process."""
    global _ORIGINAL_PID
    _ORIGINAL_PID = os.getpid()


def resolve(spec: str) -> Any | None:
    module_name, _, attribute = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        return None
    return getattr(module, attribute) if attribute else module


class Tools:
    """A snapshot of the guarded namespaces, and the means to restore it."""

    def __init__(self) -> None:
        self.saved: list[tuple[str, Any, dict[str, Any]]] = []
        self.reported: set[str] = set()
        for spec in GUARDED:
            owner = resolve(spec)
            if owner is not None:
                label = spec.replace(":", ".")
                # Functions, classes and modules only: data a library updates as it runs
                # (counters, caches, settings) must be free to change.
                tools = {
                    name: value
                    for name, value in vars(owner).items()
                    if callable(value) or isinstance(value, ModuleType)
                }
                self.saved.append((label, owner, tools))

    def restore(self) -> list[str]:
        """Put back every replaced or deleted name; returns those not reported before."""
        fresh: list[str] = []
        for label, owner, names in self.saved:
            current = vars(owner)
            for name, original in names.items():
                if current.get(name, _MISSING) is original:
                    continue
                try:
                    setattr(owner, name, original)
                except (AttributeError, TypeError):
                    continue  # read-only slots cannot have been replaced either
                qualified = f"{label}.{name}" if label != "builtins" else name
                if qualified not in self.reported:
                    self.reported.add(qualified)
                    fresh.append(qualified)
        return fresh


_MISSING = object()


class ToolKeeper:
    """A pytest plugin that restores the tools around every test and reports replacements."""

    def __init__(self, tools: Tools, report: Callable[[list[str]], None]) -> None:
        self.tools = tools
        self.report = report

    def check(self) -> None:
        replaced = self.tools.restore()
        if replaced:
            self.report(replaced)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(self, item: pytest.Item) -> None:
        self.check()

    @pytest.hookimpl(trylast=True)
    def pytest_runtest_teardown(self, item: pytest.Item, nextitem: pytest.Item | None) -> None:
        self.check()


def tampering_notice(names: list[str], problem_name: str) -> str:
    shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
    return (
        f"{problem_name} replaced {shown}; the tests put the original back and used it. "
        "Change your own code, not torch's or Python's."
    )


def limit_processes(limit: int = PROCESS_LIMIT) -> None:
    """Make every way Python creates a process fail with EAGAIN once ``limit`` are made."""
    counter = mmap.mmap(-1, 8)  # anonymous and shared: every forked copy counts here too

    def take() -> None:
        made = int.from_bytes(counter[:8], "little")
        if made >= limit:
            raise BlockingIOError(
                errno.EAGAIN,
                f"a test run may start at most {limit} processes; this code tried to start more",
            )
        counter[:8] = (made + 1).to_bytes(8, "little")

    def counted(create: Callable[..., Any]) -> Callable[..., Any]:
        def create_counted(*args: Any, **kwargs: Any) -> Any:
            take()
            return create(*args, **kwargs)

        return create_counted

    for name in ("fork", "forkpty", "posix_spawn", "posix_spawnp"):
        if hasattr(os, name):
            setattr(os, name, counted(getattr(os, name)))
    fork_exec = getattr(subprocess, "_fork_exec", None)
    if fork_exec is not None:  # what subprocess.Popen uses on POSIX
        subprocess._fork_exec = counted(fork_exec)  # type: ignore[attr-defined]
