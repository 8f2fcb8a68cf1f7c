"""The tutor's side of the test worker: start runs, stream their events, cancel them.

``Runner.run`` is an async generator of events that always yields exactly one
``RunFinished``, the verdict, as soon as it is known; the attention picture (a
``ProbeResult``) may follow it, and the generator ends when the worker closes the run.
Closing the generator early (a newer save arrived, the task was cancelled) cancels
the run in the worker. The worker is started on first use or by
``start()``, and started again if it died; torch is never imported on this side.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import sys
from collections.abc import AsyncGenerator
from pathlib import Path
from typing import IO, Any

from tutor.core.catalog import Exercise, PackProblem, read_exercise, read_pack_limits
from tutor.core.private import make_folder, open_private
from tutor.core.protocol import (
    CancelRequest,
    Event,
    Notice,
    RunClosed,
    RunFinished,
    RunRequest,
    Verdict,
    WorkerReady,
    decode,
)

STARTUP_LIMIT = 120.0  # a first torch import on a cold disk can be slow
# Run by this same Python, isolated (-I): neither the current folder nor a PYTHON* variable
# adds to sys.path, so a torch.py that someone left in a shared folder, or in a folder that
# PYTHONPATH names, cannot stand in for torch. -u: unbuffered, as PYTHONUNBUFFERED is ignored.
WORKER = ("-I", "-u", "-m", "tutor.worker.server")


class Runner:
    """Runs exercises' tests against learner files in the warm worker."""

    def __init__(
        self,
        *,
        timeout: float | None = None,
        memory_mb: int | None = None,
        log: Path | None = None,
        pack: Path | None = None,
        record: Path | None = None,
    ) -> None:
        """``pack`` is the pack the tutor opened and ``record`` where its workspace keeps the
        pack's fingerprint (``tutor.core.fingerprint``); without them the worker fingerprints
        each exercise the first time it runs it. ``timeout`` and ``memory_mb``, when given,
        are the learner's choice and win over what the pack sets (``Exercise.limits``)."""
        self.timeout = timeout
        self.memory_mb = memory_mb
        self.log = log
        self.pack = pack
        self.record = record
        self.process: asyncio.subprocess.Process | None = None
        self.ready = asyncio.Event()
        self.uses_fork = True
        self.queues: dict[int, asyncio.Queue[Event]] = {}
        self.ids = itertools.count(1)
        self.reader: asyncio.Task[None] | None = None
        self.startup_error = ""
        self.worker: tuple[str, ...] = WORKER

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.returncode is None

    async def start(self) -> None:
        """Start the worker if it is not running; returns before it is ready."""
        if self.running:
            return
        self.ready = asyncio.Event()
        log: IO[bytes] | int = asyncio.subprocess.DEVNULL
        if self.log is not None:
            with contextlib.suppress(OSError):
                make_folder(self.log.parent)
                flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT
                log = os.fdopen(open_private(self.log, flags), "ab")
        try:
            self.process = await asyncio.create_subprocess_exec(
                sys.executable,
                *self.worker,
                *self.worker_options(),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=log,
                limit=16 * 1024 * 1024,
            )
        except OSError as error:
            self.startup_error = f"the test worker could not start: {error}"
            raise
        finally:
            if not isinstance(log, int):
                log.close()
        self.reader = asyncio.create_task(self.read(self.process))

    def worker_options(self) -> list[str]:
        options = []
        if self.pack is not None:
            options += ["--pack", str(self.pack)]
        if self.record is not None:
            options += ["--record", str(self.record)]
        return options

    async def read(self, process: asyncio.subprocess.Process) -> None:
        assert process.stdout is not None
        while True:
            line = await process.stdout.readline()
            if not line:
                break
            try:
                event = decode(line)
            except (ValueError, TypeError):
                continue
            if isinstance(event, WorkerReady):
                self.uses_fork = event.fork
                self.ready.set()
                continue
            queue = self.queues.get(event.run_id)
            if queue is not None:
                queue.put_nowait(event)
        await process.wait()
        # The worker is gone: every run still waiting gets an honest ending.
        for run_id, queue in list(self.queues.items()):
            queue.put_nowait(
                RunFinished(
                    run_id=run_id,
                    verdict=Verdict.INTERRUPTED,
                    message="the test worker stopped during this run",
                )
            )
            queue.put_nowait(RunClosed(run_id=run_id))

    async def wait_ready(self) -> bool:
        """Wait until the worker takes runs; False if it ended, or took too long, first."""
        ready = asyncio.create_task(self.ready.wait())
        waiting: set[asyncio.Task[Any]] = {ready}
        if self.reader is not None:
            waiting.add(self.reader)  # it ends when the worker does
        try:
            await asyncio.wait(waiting, timeout=STARTUP_LIMIT, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ready.cancel()
        return self.ready.is_set() and self.running

    async def run(self, exercise: Exercise, problem: Path) -> AsyncGenerator[Event, None]:
        """Test ``problem`` against the exercise's pristine tests, event by event."""
        run_id = next(self.ids)
        if not self.running:
            restarting = self.process is not None
            try:
                await self.start()
            except OSError:
                yield RunFinished(
                    run_id=run_id, verdict=Verdict.INTERRUPTED, message=self.startup_error
                )
                return
            if restarting:
                yield Notice(run_id=run_id, text="the test worker had stopped; started a new one")
        if not await self.wait_ready():
            yield RunFinished(
                run_id=run_id, verdict=Verdict.INTERRUPTED, message=self.why_not_ready()
            )
            return
        limits = exercise.limits(self.timeout, self.memory_mb)
        request = RunRequest(
            run_id=run_id,
            exercise_dir=str(exercise.path),
            problem=str(problem),
            timeout=limits.timeout,
            memory_mb=limits.memory_mb,
            mutants=exercise.mutant_specs,
            timeout_setting=limits.timeout_setting,
            memory_setting=limits.memory_setting,
            entry=exercise.entry or "",
            differential=exercise.differential,
            tokens=exercise.tokens,
        )
        queue: asyncio.Queue[Event] = asyncio.Queue()
        self.queues[run_id] = queue
        finished = closed = False
        try:
            await self.send(request.to_json())
            while True:
                event = await queue.get()
                if isinstance(event, RunClosed):
                    closed = True
                    return
                if isinstance(event, RunFinished):
                    if finished:
                        continue  # the worker died after the verdict: the verdict stands
                    finished = True
                yield event
        finally:
            self.queues.pop(run_id, None)
            if not closed:
                with contextlib.suppress(Exception):
                    await self.send(CancelRequest(run_id=run_id).to_json())

    def why_not_ready(self) -> str:
        process = self.process
        if process is None or process.returncode is None:
            return f"the test worker was not ready within {STARTUP_LIMIT:g} s"
        where = f"; its messages are in {self.log}" if self.log is not None else ""
        return f"the test worker stopped while starting (exit code {process.returncode}){where}"

    async def send(self, line: str) -> None:
        process = self.process
        if process is None or process.stdin is None:
            return
        try:
            process.stdin.write(line.encode() + b"\n")
            await process.stdin.drain()
        except (ConnectionError, RuntimeError):
            pass

    async def close(self) -> None:
        """Stop the worker and everything it runs."""
        process = self.process
        if process is None:
            return
        if process.returncode is None and not self.ready.is_set():
            # Still importing torch, it would read its closed stdin only when warm: there is
            # no run to finish yet, so it ends now.
            with contextlib.suppress(ProcessLookupError):
                process.kill()
        if process.returncode is None:
            if process.stdin is not None:
                with contextlib.suppress(Exception):
                    process.stdin.close()
            try:
                await asyncio.wait_for(process.wait(), 2.0)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                await process.wait()
        if self.reader is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.reader
        self.process = None


async def run_once(runner: Runner, exercise: Exercise | Path, problem: Path) -> list[Event]:
    """Every event of one run, in order (for tests); an exercise folder is read first."""
    if isinstance(exercise, Path):
        exercise = exercise_at(exercise)
    return [event async for event in runner.run(exercise, problem)]


def exercise_at(folder: Path) -> Exercise:
    """The exercise in ``folder``, read with its pack's limits; ``ValueError`` if it is not
    a loadable exercise."""
    problems: list[PackProblem] = []
    found = read_exercise(folder, read_pack_limits(folder.parent, problems))
    if isinstance(found, PackProblem):
        raise ValueError(str(found))
    return found
