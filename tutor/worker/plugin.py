"""A pytest plugin that reports each test as a structured event, as it finishes.

It reads pytest's own hooks and exception objects; pytest's text output is never parsed.
"""

from __future__ import annotations

import re
import traceback
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tutor.core.protocol import CollectionError, Event, Outcome, RunStarted, TestOutcome
from tutor.core.report import NOT_IMPLEMENTED
from tutor.core.words import cut_at_word
from tutor.worker.plain_assert import plain_message

# A message travels whole: views wrap it and show the first lines, the rest is one key away.
MESSAGE_LINES = 20
MESSAGE_CHARS = 4000
MEMORY_WORDS = ("can't allocate memory", "not enough memory", "out of memory")


@dataclass
class Tally:
    """What the plugin saw, for the run's final verdict."""

    passed: int = 0
    failed: int = 0
    collected: int = 0
    collection_errors: int = 0
    out_of_memory: bool = False
    interrupted_by: str = ""
    reported: set[str] = field(default_factory=set)  # the tests whose result was reported


def short_message(error: BaseException) -> str:
    """The error in a few lines, in the words the test (or Python) chose for the learner."""
    if isinstance(error, NotImplementedError):
        detail = str(error).strip()
        text = f"{NOT_IMPLEMENTED}: {detail}" if detail else NOT_IMPLEMENTED
    elif isinstance(error, SystemExit):
        text = (
            f"your code called sys.exit({error.code!r}); "
            "a module should return its result, never end the program"
        )
    elif isinstance(error, AssertionError | pytest.fail.Exception):
        text = own_words(error) or str(error).strip() or "assertion failed"
    else:
        detail = str(error).strip()
        text = f"{type(error).__name__}: {detail}" if detail else type(error).__name__
    return fit(text)


def own_words(error: BaseException) -> str:
    """An assert's own message, without pytest's "assert ..." explanation ("" if it has none)."""
    text = str(error).strip()
    if text.startswith("assert "):
        return ""
    head, sep, _ = text.partition("\nassert ")
    return head.strip() if sep else text


def fit(text: str) -> str:
    """A message cut to what travels: its first non-blank lines, at most so many characters."""
    lines = [line.rstrip() for line in text.splitlines() if line.strip()]
    return cut_at_word("\n".join(lines[:MESSAGE_LINES]), MESSAGE_CHARS)


def failure_message(error: BaseException, test_file: Path) -> str:
    """A failed test's message; a bare assert on tensors in the test file says its values."""
    plain = plain_message(error, test_file, own_words(error))
    return fit(plain) if plain else short_message(error)


def is_memory_error(error: BaseException) -> bool:
    return isinstance(error, MemoryError) or (
        isinstance(error, RuntimeError) and any(word in str(error).lower() for word in MEMORY_WORDS)
    )


def learner_line(error: BaseException, learner_files: frozenset[str]) -> int | None:
    """The deepest line of the learner's file in the error's traceback (or its causes)."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        frames = traceback.extract_tb(current.__traceback__)
        for frame in reversed(frames):
            if frame.filename in learner_files and frame.lineno is not None:
                return frame.lineno
        if isinstance(current, SyntaxError) and current.filename in learner_files:
            return current.lineno
        current = current.__cause__ or current.__context__
    return None


def collect_message(report: pytest.CollectReport) -> str:
    """The error lines pytest keeps for a failed collection."""
    text = str(report.longrepr)
    errors = [line[1:].strip() for line in text.splitlines() if line.startswith("E ")]
    return "\n".join(errors[-MESSAGE_LINES:]) if errors else text.strip().splitlines()[-1]


def collect_line(report: pytest.CollectReport, name: str) -> int | None:
    """The last line of file ``name`` that pytest's collection report points at, if any."""
    text = str(report.longrepr)
    # Tracebacks name it as "test_x.py:3: in <module>", syntax errors as 'File ".../test_x.py",
    # line 3'.
    pattern = rf'(?:^|[/\s"]){re.escape(name)}(?::(\d+):|", line (\d+))'
    found = re.findall(pattern, text, flags=re.MULTILINE)
    if not found:
        return None
    traced, syntax = found[-1]
    return int(traced or syntax)


class EventReporter:
    """Emits RunStarted, TestOutcome and CollectionError events through ``emit``."""

    def __init__(self, emit: Callable[[Event], None], learner_files: frozenset[str]) -> None:
        self.emit = emit
        self.learner_files = learner_files
        self.tally = Tally()

    @pytest.hookimpl
    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if not report.failed:
            return
        self.tally.collection_errors += 1
        message = collect_message(report)
        for learner in self.learner_files:
            # The learner knows their file by its name, not by the run's private copy.
            message = message.replace(learner, Path(learner).name)
        name = Path(str(report.fspath)).name
        line = collect_line(report, name)
        self.emit(CollectionError(run_id=0, file=name, line=line, message=message))

    @pytest.hookimpl
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        self.tally.collected = len(session.items)
        self.emit(RunStarted(run_id=0, tests=len(session.items)))

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> Generator[None, pytest.TestReport, pytest.TestReport]:
        report = yield
        judged = report.when == "call" or (report.when == "setup" and not report.passed)
        if judged:
            self.tally.reported.add(item.nodeid)
        if judged or (report.when == "teardown" and report.failed):
            self.report(item, call, report)
        return report

    def report(
        self, item: pytest.Item, call: pytest.CallInfo[Any], report: pytest.TestReport
    ) -> None:
        message, line, not_implemented = "", None, False
        if report.skipped:
            outcome = Outcome.SKIPPED
            longrepr = report.longrepr
            message = str(longrepr[2]) if isinstance(longrepr, tuple) else ""
        elif report.failed:
            outcome = Outcome.FAILED
            self.tally.failed += 1
            if call.excinfo is not None:
                error = call.excinfo.value
                message = failure_message(error, item.path)
                line = learner_line(error, self.learner_files)
                not_implemented = isinstance(error, NotImplementedError)
                self.tally.out_of_memory |= is_memory_error(error)
        else:
            outcome = Outcome.PASSED
            self.tally.passed += 1
        self.emit(
            TestOutcome(
                run_id=0,
                name=item.name,
                file=item.path.name,
                outcome=outcome,
                message=message,
                line=line,
                duration=round(report.duration, 4),
                not_implemented=not_implemented,
            )
        )

    @pytest.hookimpl
    def pytest_keyboard_interrupt(self, excinfo: pytest.ExceptionInfo[BaseException]) -> None:
        if isinstance(excinfo.value, pytest.Session.Interrupted):
            return  # pytest's own stop after a collection error, reported as that error
        self.tally.interrupted_by = type(excinfo.value).__name__
