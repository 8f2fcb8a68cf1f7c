"""The real app, headless, with its real watcher and warm worker, kept open across tests.

The fault suite saves hostile files through it exactly as a learner's editor would (a
new file renamed over ``problem.py``) and measures what the learner would see: the
verdict and how long it took, whether a key still answers during the run, what is left
running afterwards, and whether their file and progress are intact.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import psutil
from textual.pilot import Pilot

from tutor.core.catalog import Exercise
from tutor.core.course import open_course
from tutor.core.report import RunReport
from tutor.ui.app import TutorApp
from tutor.ui.widgets.attention import AttentionPane

T = TypeVar("T")
KEY_LIMIT = 0.5  # seconds a key may take to answer while a run is going on
CLEANUP_LIMIT = 1.0  # seconds for the processes of a finished run to be gone


@dataclass
class Outcome:
    """What one save led to, as measured from outside the app."""

    report: RunReport
    seconds: float  # from the save to the verdict on screen
    key_seconds: float  # from a key press to its action having run
    key_during_run: bool  # whether that key was pressed while the run was still going
    leftovers: list[str]  # command lines still running under the worker after the run
    attempts_added: int  # how the exercise's stored attempt count changed

    @property
    def verdict(self) -> str:
        assert self.report.finished is not None
        return self.report.finished.verdict.value

    @property
    def text(self) -> str:
        """Everything the learner is shown about the run, as one string to search."""
        report = self.report
        assert report.finished is not None
        parts = [report.headline(), report.finished.message, *report.notices]
        parts += [f"{o.name}: {o.message}" for o in report.outcomes]
        parts += [f"{e.file}: {e.message}" for e in report.errors]
        return "\n".join(parts)


class LiveApp:
    """A ``TutorApp`` on its own event loop, so one warm worker serves many tests."""

    def __init__(self, workspace: Path, *, timeout: float, exercise: str = "02") -> None:
        self.loop = asyncio.new_event_loop()
        self.course = open_course(None, workspace)
        found = self.course.catalog.find(exercise)
        assert found is not None
        self.exercise: Exercise = found
        self.course.progress.current = found.key
        self.app = TutorApp(self.course, timeout=timeout, theme="textual-dark")
        self.saves = 0
        self.commands: asyncio.Queue[tuple[Callable[[], Awaitable[Any]], asyncio.Future[Any]]]
        self.commands = asyncio.Queue()
        self.started: asyncio.Future[Pilot[int]] = self.loop.create_future()
        # Textual keeps the running app in context variables: everything that touches the
        # app runs inside the one task that opened it.
        self.host = self.loop.create_task(self.serve())
        self.pilot = self.loop.run_until_complete(self.started)
        # The app tests the open exercise once the worker is warm: let that first run end.
        self.wait(lambda: self.first_run_done(), 120)
        self.wait(lambda: self.app.session.watch_confirmed, 10)

    async def serve(self) -> None:
        async with self.app.run_test(size=(120, 40)) as pilot:
            self.started.set_result(pilot)
            while True:
                command, result = await self.commands.get()
                if command is None:
                    break
                try:
                    result.set_result(await command())
                except BaseException as error:  # noqa: BLE001 - handed to the test that asked
                    result.set_exception(error)

    def call(self, command: Callable[[], Awaitable[T]]) -> T:
        """Run ``command`` in the app's task and return its result."""
        result: asyncio.Future[T] = self.loop.create_future()
        self.commands.put_nowait((command, result))
        return self.loop.run_until_complete(result)

    def first_run_done(self) -> bool:
        report = self.app.session.reports.get(self.exercise.key)
        return report is not None and report.done and self.app.session.running is None

    @property
    def problem(self) -> Path:
        return self.course.problem(self.exercise)

    @property
    def worker(self) -> psutil.Process:
        process = self.app.session.runner.process
        assert process is not None
        return psutil.Process(process.pid)

    def wait(self, condition: Callable[[], bool], limit: float) -> float:
        """Let the app run until ``condition`` holds; returns the seconds it took."""
        return self.call(lambda: self.until(condition, limit))

    async def until(self, condition: Callable[[], bool], limit: float) -> float:
        start = time.monotonic()
        while not condition():
            if time.monotonic() - start > limit:
                raise AssertionError(f"still waiting after {limit} s")
            await asyncio.sleep(0.02)
        return time.monotonic() - start

    def write(self, content: str | bytes) -> None:
        """Save the way vim or JetBrains do: a new file renamed over the old one."""
        data = content.encode() if isinstance(content, str) else content
        temporary = self.problem.with_name(".problem.py.saving")
        temporary.write_bytes(data)
        os.replace(temporary, self.problem)

    def save(self, content: str | bytes, *, limit: float) -> Outcome:
        """Save ``content`` and follow the run it starts to its end."""
        return self.act(lambda: self.write(content), limit=limit)

    def act(self, action: Callable[[], object], *, limit: float) -> Outcome:
        """Do ``action`` to the learner's file and follow the run it starts to its end."""
        return self.call(lambda: self.follow(action, limit))

    async def follow(self, action: Callable[[], object], limit: float) -> Outcome:
        key = self.exercise.key
        before = self.app.session.reports.get(key)
        attempts = self.stored_attempts()
        self.saves += 1
        action()
        start = time.monotonic()

        def report() -> RunReport | None:
            current = self.app.session.reports.get(key)
            return current if current is not before else None

        await self.until(lambda: report() is not None, limit)
        # A key pressed while the run is on: the app must answer at once.
        during = self.app.session.running == key
        pane = self.app.main.query_one(AttentionPane)
        numbers = pane.numbers
        self.app.simulate_key("m")  # as the terminal delivers it: no waiting for the screen
        key_seconds = await self.until(lambda: pane.numbers != numbers, KEY_LIMIT * 4)

        await self.until(lambda: (r := report()) is not None and r.done, limit)
        seconds = time.monotonic() - start
        await self.until(lambda: self.app.session.running is None, limit)
        found = report()
        assert found is not None
        assert found.finished is not None
        leftovers = await self.leftovers()
        added = self.stored_attempts() - attempts
        if found.finished.verdict.counts_as_attempt:
            assert added == 1, f"the run was recorded {added} times"
        return Outcome(found, seconds, key_seconds, during, leftovers, added)

    async def leftovers(self) -> list[str]:
        """Processes under the worker that outlive the run by more than CLEANUP_LIMIT."""
        deadline = time.monotonic() + CLEANUP_LIMIT
        while True:
            try:
                family = self.worker.children(recursive=True)
            except psutil.NoSuchProcess:
                family = []  # the worker itself is gone (killed from outside)
            alive = living(family)
            if not alive or time.monotonic() > deadline:
                return alive
            await asyncio.sleep(0.05)

    def stored_attempts(self) -> int:
        """The attempt count in progress.json, which must always parse."""
        path = self.course.progress.path
        if not path.exists():
            return 0
        data = json.loads(path.read_text(encoding="utf-8"))
        return int(data["exercises"].get(self.exercise.key, {}).get("attempts", 0))

    def close(self) -> None:
        self.commands.put_nowait((None, self.loop.create_future()))  # type: ignore[arg-type]
        self.loop.run_until_complete(self.host)
        self.loop.close()


def living(processes: list[psutil.Process]) -> list[str]:
    """Command lines of those still running (zombies waiting to be reaped do not count)."""
    alive = []
    for process in processes:
        try:
            if process.status() != psutil.STATUS_ZOMBIE:
                alive.append(" ".join(process.cmdline()))
        except psutil.NoSuchProcess:
            continue
    return alive


def processes_with(marker: str) -> list[str]:
    """Command lines of every process on the machine that carries ``marker``."""
    found = []
    for process in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(process.info["cmdline"] or [])
        if marker in cmdline:
            found.append(cmdline)
    return found
