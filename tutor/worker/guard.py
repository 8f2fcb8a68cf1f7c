"""Keep learner code from changing the tools that judge it, and from speaking for the run.

Three defences, all set up in the test child before the learner's file is imported:

- ``guard_tools`` remembers the functions and classes the tests use and those that run a
  test, make its report and turn the reports into the run's verdict, and returns the
  function that puts back whatever the learner's code replaced since
  (``torch.allclose = lambda *a: True``, ``_pytest.python.Function.runtest = lambda s: None``,
  ``tutor.worker.child.verdict_for = ...``). ``keeper`` calls it before every test, before
  the report of its setup and of its call is made, and the child before the verdict. Each
  replaced name is reported once.
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
import operator
import os
import subprocess
import types
from collections.abc import Callable, Generator
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import pytest

# What the tests lean on, which a test may patch for itself while it runs (an exercise's
# test swaps torch.softmax for a function that refuses): put back before every test.
# "module:Class" guards the class's own attributes.
TEST_TOOLS = (
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
)
# What runs a test, makes its report and decides the verdict: put back before every test,
# before every report is made, and before the verdict. Each module's own classes are
# guarded with it: pytest's nodes (Function.runtest), CallInfo, TestReport and Session,
# pluggy's hook callers, the tutor's reporter, Channel and events, and what an event goes
# through on its way to the worker (os.write, json, dataclasses, copy, enum).
JUDGES = (
    "builtins",
    "pytest",
    "_pytest.main",
    "_pytest.runner",
    "_pytest.python",
    "_pytest.nodes",
    "_pytest.reports",
    "_pytest.fixtures",
    "_pytest.outcomes",
    "_pytest.skipping",
    "_pytest.config",
    "pluggy._hooks",
    "pluggy._manager",
    "pluggy._callers",
    "pluggy._result",
    "tutor.core.protocol",
    "tutor.worker.child",
    "tutor.worker.plugin",
    "tutor.worker.differential",
    "tutor.worker.pair",
    "tutor.worker.guard",
    "os",
    "json",
    "json.encoder",
    "dataclasses",
    "copy",
    "enum",
)
# Taken again in each run, not before it: limit_processes has just wrapped os's functions.
RETAKEN = frozenset({"os"})
PROCESS_LIMIT = 32  # processes a run may create, in all its copies together
IMMUTABLE_TYPE = 1 << 8  # Py_TPFLAGS_IMMUTABLETYPE: a class nobody can change (int, str, ...)
_ORIGINAL_PID = os.getpid()

# [label, owner, its namespace (a live view), the tools' names, their values, and for a
# class the size and the names of its whole namespace (-1 and None for a module, where the
# learner may add names)]. A list, not a class of this module: the learner's code could
# replace a class's attributes.
Namespace = list[Any]
Restore = Callable[[bool], list[str]]


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


def is_tool(value: object) -> bool:
    """Functions, classes, modules and the descriptors that make methods and properties.

    Data a library updates as it runs (counters, caches, settings) must stay free to change.
    """
    return callable(value) or isinstance(
        value, types.ModuleType | classmethod | staticmethod | property | cached_property
    )


def namespace(label: str, owner: Any) -> Namespace:
    table = vars(owner)
    tools = {name: value for name, value in table.items() if is_tool(value)}
    is_class = isinstance(owner, type)
    size, keys = (len(table), frozenset(table)) if is_class else (-1, None)
    return [label, owner, table, tuple(tools), tuple(tools.values()), size, keys]


def own_classes(module: types.ModuleType) -> list[type]:
    """The classes a module defines that can be changed at all."""
    return [
        value
        for value in vars(module).values()
        if isinstance(value, type)
        and value.__module__ == module.__name__
        and not value.__flags__ & IMMUTABLE_TYPE
    ]


@dataclass(frozen=True)
class Taken:
    """The namespaces of one guarded module (and its classes) and, in one row, every
    guarded entry of them: the common case, nothing changed, is then checked in C."""

    spaces: list[Namespace]
    tables: list[Any]
    names: list[str]
    values: list[Any]

    @classmethod
    def now(cls, spec: str, *, with_classes: bool) -> Taken:
        owner = resolve(spec)
        spaces: list[Namespace] = []
        if owner is not None:
            label = spec.replace(":", ".")
            spaces.append(namespace(label, owner))
            if with_classes and isinstance(owner, types.ModuleType):
                spaces += (namespace(f"{label}.{c.__name__}", c) for c in own_classes(owner))
        return cls(
            spaces=spaces,
            tables=[space[2] for space in spaces for _ in space[3]],
            names=[name for space in spaces for name in space[3]],
            values=[value for space in spaces for value in space[4]],
        )


# The worker's snapshot, taken before any run; each run starts from it.
_PREPARED: dict[str, Taken] = {}


def prepare() -> None:
    """Take the snapshot in the worker, before any learner code: runs then start from it."""
    for specs, with_classes in ((JUDGES, True), (TEST_TOOLS, False)):
        for spec in specs:
            _PREPARED[spec] = Taken.now(spec, with_classes=with_classes)


def taken(specs: tuple[str, ...], *, with_classes: bool) -> Taken:
    """The namespaces of ``specs``, from the worker's snapshot but for RETAKEN, in one."""
    parts = [
        _PREPARED[spec]
        if spec in _PREPARED and spec not in RETAKEN
        else Taken.now(spec, with_classes=with_classes)
        for spec in specs
    ]
    return Taken(
        spaces=[space for part in parts for space in part.spaces],
        tables=[table for part in parts for table in part.tables],
        names=[name for part in parts for name in part.names],
        values=[value for part in parts for value in part.values],
    )


def guard_tools() -> Restore:
    """Remember the guarded names; returns the function that puts them back.

    ``restore(judges_only)`` puts back every replaced or deleted name (with ``judges_only``,
    only those that run and judge the tests, leaving torch to a test that patched it), and
    removes what the learner's code added to a guarded class where it hides an inherited
    method or property. It returns the names it had not reported before. Everything it
    uses is bound here, so the learner's code cannot reach it by replacing a name, a
    builtin included. Call it before any learner code runs.
    """
    judged = taken(JUDGES, with_classes=True)
    tools = taken(TEST_TOOLS, with_classes=False)
    judges = judged.spaces
    everything = judges + tools.spaces
    # (tables, names, values, classes) of every entry, in plain lists and tuples.
    rows = {
        True: (judged.tables, judged.names, judged.values),
        False: (
            judged.tables + tools.tables,
            judged.names + tools.names,
            judged.values + tools.values,
        ),
    }
    classes = {
        True: [space for space in judges if space[5] >= 0],
        False: [space for space in everything if space[5] >= 0],
    }
    reported: set[str] = set()
    all_, any_, map_, is_, len_, vars_, zip_, set_, getitem = (
        all,
        any,
        map,
        operator.is_,
        len,
        vars,
        zip,
        set,
        operator.getitem,
    )
    setattr_, delattr_, is_tool_, frozenset_, missing = (
        setattr,
        delattr,
        is_tool,
        frozenset,
        _MISSING,
    )
    lookup_errors, write_errors = (KeyError, TypeError), (AttributeError, TypeError)

    def intact(judges_only: bool) -> bool:
        tables, names, values = rows[judges_only]
        try:
            if not all_(map_(is_, map_(getitem, tables, names), values)):
                return False
        except lookup_errors:
            return False
        # A class whose size changed had a name added, or removed.
        return all_(len_(space[2]) == space[5] for space in classes[judges_only])

    def hides_inherited(owner: type, name: str) -> bool:
        return any_(is_tool_(vars_(base).get(name)) for base in owner.__mro__[1:])

    def put_back(space: Namespace, fresh: list[str]) -> None:
        label, owner, table, names, values, size, keys = space
        changed: list[str] = []
        for name, original in zip_(names, values):
            if table.get(name, missing) is original:
                continue
            try:
                setattr_(owner, name, original)
            except write_errors:
                continue  # read-only slots cannot have been replaced either
            changed.append(name)
        if size >= 0:
            for name in set_(table) - keys:
                if hides_inherited(owner, name):
                    try:
                        delattr_(owner, name)
                    except write_errors:
                        continue
                    changed.append(name)
            # What stays is the library's own data (a flag pytest sets on a class).
            space[5], space[6] = len_(table), frozenset_(table)
        for name in changed:
            qualified = f"{label}.{name}" if label != "builtins" else name
            if qualified not in reported:
                reported.add(qualified)
                fresh.append(qualified)

    def restore(judges_only: bool = False) -> list[str]:
        fresh: list[str] = []
        if not intact(judges_only):
            for space in judges if judges_only else everything:
                put_back(space, fresh)
        return fresh

    return restore


_MISSING = object()


@dataclass(frozen=True)
class Keeper:
    """``check`` restores the tools and reports replacements; ``plugin`` does it around
    every test, for pytest. Both are closures: nothing in them is looked up by a name the
    learner's code could have replaced."""

    check: Callable[[], None]
    plugin: object


def keeper(restore: Restore, report: Callable[[list[str]], None]) -> Keeper:
    def check(judges_only: bool = False) -> None:
        replaced = restore(judges_only)
        if replaced:
            report(replaced)

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_setup(item: pytest.Item) -> None:
        check()

    # Before all the report's makers: the test (or a fixture) just ran the learner's code,
    # which may have replaced how a report is made or what it says.
    @pytest.hookimpl(wrapper=True, tryfirst=True)
    def pytest_runtest_makereport(
        item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        if call.when != "teardown":  # a teardown's report can fail a test, never pass it
            check(judges_only=True)
        return (yield)

    plugin = types.SimpleNamespace(
        pytest_runtest_setup=pytest_runtest_setup,
        pytest_runtest_makereport=pytest_runtest_makereport,
    )
    return Keeper(check=check, plugin=plugin)


def tampering_notice(names: list[str], problem_name: str) -> str:
    shown = ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "")
    return (
        f"{problem_name} replaced {shown}; the tests put the original back and used it. "
        "Change your own code, not torch's, pytest's, the tutor's or Python's."
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
