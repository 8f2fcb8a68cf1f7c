"""A learner's session: what is studied, which saves run, what the runs mean. No Textual.

The session owns the rules of a sitting at the tutor: the exercise being studied, the
debounce and content hash that turn an editor's burst of writes into one run, the run
queue (a newer save of the current exercise supersedes its older run; other exercises
wait their turn), recording each run in the progress, the next hint, and the decision to
fall back to polling when file events do not arrive. It reports what changed as typed
updates to one listener, the view. Timers go through a ``Clock`` so tests can drive time.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import Protocol

from tutor.core.catalog import Exercise
from tutor.core.course import Course
from tutor.core.files import read_plain_file
from tutor.core.hints import NextHint
from tutor.core.protocol import Example, ProbeResult, RunFinished
from tutor.core.report import RunReport
from tutor.runner import Runner
from tutor.watcher import Watcher

DEBOUNCE = 0.15  # editors write a file in bursts; one run per burst
WATCH_CHECK = 3.0  # seconds to wait for the watcher's own test event before polling
WATCH_CHECK_KEY = ""  # what the watcher reports for its own test file, not an exercise
# A save on the app's loop waits this long at most for the progress lock (another tutor's
# save takes milliseconds), so keys answer while a process keeps it; SAVE_RETRY tries again.
SAVE_WAIT = 0.2
SAVE_RETRY = 5.0


class Handle(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    """Calls a function later; ``asyncio``'s loop is one, a test's fake clock another."""

    def call_later(self, delay: float, callback: Callable[[], object]) -> Handle: ...


class LoopClock:
    """The running event loop's timers."""

    def call_later(self, delay: float, callback: Callable[[], object]) -> Handle:
        return asyncio.get_running_loop().call_later(delay, callback)


class Severity(Enum):
    INFORMATION = "information"
    WARNING = "warning"
    ERROR = "error"


class Trigger(Enum):
    """Why a run started: only the learner's own moves bring the results forward."""

    SAVED = "saved"
    ASKED = "asked"  # the learner pressed r
    OPENED = "opened"  # the exercise was opened, or the tutor started


class Phase(Enum):
    """What the session is doing, for the status line."""

    WARMING_UP = "warming up PyTorch…"
    RUNNING = "running tests…"
    READY = "ready"


# ----- the updates a view receives


@dataclass(frozen=True)
class ExerciseOpened:
    exercise: Exercise


@dataclass(frozen=True)
class RunProgressed:
    """A run started, or a test of it finished; ``report`` holds all of it so far."""

    exercise: Exercise
    report: RunReport
    trigger: Trigger

    @property
    def starting(self) -> bool:
        return not self.report.outcomes and self.report.finished is None


@dataclass(frozen=True)
class RunJudged:
    """The run's verdict is in and recorded (the exercise's status with it); its picture may
    still follow."""

    exercise: Exercise
    report: RunReport
    first_solve: bool


@dataclass(frozen=True)
class PictureArrived:
    exercise: Exercise
    probe: ProbeResult


@dataclass(frozen=True)
class ExampleArrived:
    """The smallest input where the learner's code and the reference differ came in."""

    exercise: Exercise
    example: Example


@dataclass(frozen=True)
class HintRevealed:
    exercise: Exercise
    next: NextHint


@dataclass(frozen=True)
class ProgressChanged:
    """Statuses or hints seen changed: the list and the hints need redrawing."""


@dataclass(frozen=True)
class StatusChanged:
    """The phase, the last run's time or the way of watching changed."""


@dataclass(frozen=True)
class Notification:
    text: str
    severity: Severity = Severity.INFORMATION
    title: str = ""


Update = (
    ExerciseOpened
    | RunProgressed
    | RunJudged
    | PictureArrived
    | ExampleArrived
    | HintRevealed
    | ProgressChanged
    | StatusChanged
    | Notification
)


@dataclass(frozen=True)
class LastRun:
    at: str  # wall-clock time, HH:MM:SS
    seconds: float


def digest(path: Path) -> str | None:
    """The file's content hash; None when it is missing, unreadable or not a plain file."""
    try:
        return hashlib.sha256(read_plain_file(path)).hexdigest()
    except OSError:
        return None


class Session:
    """One learner at one course; ``listen`` receives every update, on the event loop."""

    def __init__(
        self,
        course: Course,
        runner: Runner,
        *,
        clock: Clock | None = None,
        watch: bool = True,
        poll: bool = False,
    ) -> None:
        self.course = course
        self.runner = runner
        self.clock: Clock = clock or LoopClock()
        self.listeners: list[Callable[[Update], None]] = []
        first = course.current()
        assert first is not None, "a course always has an exercise"
        self.exercise: Exercise = first
        self.reports: dict[str, RunReport] = {}
        self.pictures: dict[str, ProbeResult] = {}
        self.examples: dict[str, Example] = {}  # each exercise's latest run's, if it sent one
        self.ran: dict[str, str | None] = {}  # content hash of each file's latest run
        self.settling: dict[str, Handle] = {}
        self.queued: list[str] = []  # other exercises saved while one was running
        self.running: str | None = None
        self.current_run: asyncio.Task[None] | None = None
        self.queue_run: asyncio.Task[None] | None = None
        self.last_run: LastRun | None = None
        self.watch_confirmed = False
        self.closing = False  # set on the way out: runs still ending must not touch the view
        self.loop: asyncio.AbstractEventLoop | None = None
        self.save_told = ""  # the save failure the learner was last told of
        self.save_retry: Handle | None = None
        folders = [course.problem(e).parent for e in course.catalog.exercises]
        self.watcher = (
            Watcher(course.workspace.root, folders, self.file_changed, poll=poll) if watch else None
        )

    def listen(self, listener: Callable[[Update], None]) -> None:
        self.listeners.append(listener)

    def emit(self, update: Update) -> None:
        if self.closing:
            return
        for listener in self.listeners:
            listener(update)

    # ----- state for the view

    @property
    def phase(self) -> Phase:
        if not self.runner.ready.is_set():
            return Phase.WARMING_UP
        return Phase.RUNNING if self.running is not None else Phase.READY

    @property
    def polling(self) -> bool:
        return self.watcher is not None and self.watcher.polling

    def report(self, exercise: Exercise | None = None) -> RunReport | None:
        return self.reports.get((exercise or self.exercise).key)

    def picture(self, exercise: Exercise | None = None) -> ProbeResult | None:
        return self.pictures.get((exercise or self.exercise).key)

    def example(self, exercise: Exercise | None = None) -> Example | None:
        """The worked example of the exercise's latest run; None when that run sent none."""
        return self.examples.get((exercise or self.exercise).key)

    def next_hint(self) -> NextHint | None:
        return self.course.next_hint(self.exercise)

    # ----- starting and stopping

    async def start(self) -> None:
        """Watch the files, start the worker, and run the current exercise once it is ready."""
        self.start_watching()
        await self.runner.start()
        self.emit(StatusChanged())
        await self.runner.wait_ready()
        self.emit(StatusChanged())
        self.run(self.exercise, Trigger.OPENED)  # nothing, if the tutor closed meanwhile

    async def close(self) -> None:
        """Save, stop watching, end the worker and every run."""
        self.closing = True
        for handle in self.settling.values():
            handle.cancel()
        if self.save_retry is not None:
            self.save_retry.cancel()
        self.save_progress()
        if self.watcher is not None:
            self.watcher.stop()
        for task in (self.current_run, self.queue_run):
            if task is not None:
                task.cancel()
        await self.runner.close()

    def hang_up(self) -> None:
        """The terminal is gone: save and stop at once, without waiting for anything."""
        self.closing = True
        self.save_progress()
        process = self.runner.process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
        if self.watcher is not None:
            self.watcher.stop()

    # ----- watching

    def start_watching(self) -> None:
        """Watch the exercise folders, and check within WATCH_CHECK that events arrive."""
        self.loop = asyncio.get_running_loop()
        watcher = self.watcher
        if watcher is None:
            return
        watcher.start()
        if watcher.polling:
            self.emit(Notification(watcher.reason))
        elif watcher.probe():
            self.clock.call_later(WATCH_CHECK, self.check_watch)
        else:
            self.check_watch()

    def check_watch(self) -> None:
        """No event of the watcher's own test file arrived in time: poll instead."""
        if self.watcher is None or self.watch_confirmed or self.closing:
            return
        self.watcher.switch_to_polling(
            "file events did not arrive here; watching by polling every 0.5 s instead"
        )
        self.emit(Notification(self.watcher.reason, Severity.WARNING))
        self.emit(StatusChanged())

    def file_changed(self, key: str) -> None:
        """Called on the watcher's thread: hand the event to the session's loop."""
        loop = self.loop
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self.saved, key)

    # ----- saves

    def saved(self, key: str) -> None:
        """A ``problem.py`` changed on disk (``key`` is its exercise's folder name)."""
        if key == WATCH_CHECK_KEY:
            self.watch_confirmed = True
            return
        # Leading edge: the first event of a burst runs at once (an atomic save is complete
        # by then). Trailing edge: once the burst has been quiet for DEBOUNCE, the content is
        # checked again; if it changed meanwhile, that run supersedes the first.
        handle = self.settling.pop(key, None)
        if handle is None:
            self.settled(key)
        else:
            handle.cancel()
        self.settling[key] = self.clock.call_later(DEBOUNCE, lambda: self.quiet(key))

    def quiet(self, key: str) -> None:
        self.settling.pop(key, None)
        self.settled(key)

    def settled(self, key: str) -> None:
        exercise = self.course.catalog.find(key)
        if exercise is None or self.closing:
            return
        problem = self.course.problem(exercise)
        content = digest(problem)
        if key in self.ran and content == self.ran[key]:
            # Saved without a change, or still missing or unreadable: the verdict shown
            # is still current.
            return
        if content is None and not problem.exists() and key != self.exercise.key:
            return
        self.run(exercise, Trigger.SAVED)

    # ----- runs

    def run(self, exercise: Exercise, trigger: Trigger = Trigger.ASKED) -> None:
        """Test the exercise now; a newer run of the current exercise cancels an older one."""
        if self.closing:
            return  # a run now would start a new worker behind the closing one
        self.ran[exercise.key] = digest(self.course.problem(exercise))
        if exercise.key == self.exercise.key:
            if self.current_run is not None:
                self.current_run.cancel()
            self.current_run = asyncio.create_task(self.run_current(exercise, trigger))
        elif exercise.key not in self.queued:
            self.queued.append(exercise.key)
            if self.running is None:
                self.drain_queue()

    async def run_current(self, exercise: Exercise, trigger: Trigger) -> None:
        await self.test(exercise, trigger)
        self.drain_queue()

    def drain_queue(self) -> None:
        if self.queue_run is None or self.queue_run.done():
            self.queue_run = asyncio.create_task(self.run_queued())

    async def run_queued(self) -> None:
        while self.queued and self.running is None and not self.closing:
            found = self.course.catalog.find(self.queued.pop(0))
            if found is not None:
                await self.test(found, Trigger.SAVED)

    async def test(self, exercise: Exercise, trigger: Trigger) -> None:
        """One run of the exercise's tests, its updates sent as its events arrive."""
        report = RunReport()
        self.reports[exercise.key] = report
        # An example is about the file it was worked out on: a new run's file may differ.
        self.examples.pop(exercise.key, None)
        self.running = exercise.key
        self.emit(RunProgressed(exercise, report, trigger))
        self.emit(StatusChanged())
        events = self.runner.run(exercise, self.course.problem(exercise))
        try:
            async for event in events:
                report.add(event)
                if self.closing:
                    continue
                if isinstance(event, RunFinished):
                    self.judge(exercise, report)  # the verdict, before any picture
                elif isinstance(event, ProbeResult):
                    self.pictures[exercise.key] = event
                    self.emit(PictureArrived(exercise, event))
                    if event.diagnosis_hint and report.finished is not None:
                        self.note_diagnosis(exercise, report, event.diagnosis_hint)
                elif isinstance(event, Example):
                    self.examples[exercise.key] = event
                    self.emit(ExampleArrived(exercise, event))
                else:
                    self.emit(RunProgressed(exercise, report, trigger))
        finally:
            await events.aclose()  # a cancelled run is cancelled in the worker too
            if self.running == exercise.key and self.reports.get(exercise.key) is report:
                self.running = None
                self.emit(StatusChanged())

    def judge(self, exercise: Exercise, report: RunReport) -> None:
        finished = report.finished
        assert finished is not None
        self.last_run = LastRun(time.strftime("%H:%M:%S"), finished.duration)
        first_solve = self.course.progress.record(exercise.key, report)
        self.emit(RunJudged(exercise, report, first_solve))  # its status and hints with it
        self.emit(StatusChanged())
        if finished.verdict.counts_as_attempt:
            self.save_progress()  # after the verdict is shown: the disk never delays it

    def note_diagnosis(self, exercise: Exercise, report: RunReport, hint_id: str) -> None:
        finished = report.finished
        if finished is None or not finished.verdict.counts_as_attempt:
            return
        if self.course.progress.note_diagnosis(exercise.key, hint_id):
            self.save_progress()
            self.emit(ProgressChanged())

    # ----- the learner's moves

    def open(self, exercise: Exercise, *, run: bool = True) -> None:
        """Study ``exercise``: remember it, show it, and test it when the worker is ready."""
        self.exercise = exercise
        self.course.progress.current = exercise.key
        self.save_progress()
        self.emit(ExerciseOpened(exercise))
        self.emit(StatusChanged())
        if run and self.runner.ready.is_set():
            self.run(exercise, Trigger.OPENED)

    def step(self, by: int) -> Exercise | None:
        """Open the exercise ``by`` places away; None (and nothing changes) past either end."""
        found = self.course.neighbour(self.exercise, by)
        if found is not None:
            self.open(found)
        return found

    def reveal_hint(self) -> NextHint | None:
        """Show the next hint and remember it; None when every hint has been seen."""
        found = self.course.reveal_hint(self.exercise)
        if found is not None:
            self.save_progress()
            self.emit(HintRevealed(self.exercise, found))
            self.emit(ProgressChanged())
        return found

    def run_now(self) -> bool:
        """The learner asked for a run: False while the worker is still warming up."""
        if not self.runner.ready.is_set() and self.runner.running:
            return False
        self.run(self.exercise, Trigger.ASKED)
        return True

    def reset(self, exercise: Exercise) -> Path | None:
        """Restore the skeleton, backing the learner's file up first; ``OSError`` if refused."""
        return self.course.workspace.reset(exercise)

    def save_progress(self) -> None:
        """Save now; a failure is told once (not again while it stays the same), and a save
        the lock kept back is tried again later, so nothing waits on another process."""
        # Known to be held: one try, no wait, until the retry finds it free.
        failure = self.course.save_progress(0 if self.save_retry is not None else SAVE_WAIT)
        if failure is None:
            if self.save_told:
                self.save_told = ""
                self.tell(Notification("progress is saved again, with everything since"))
            return
        if failure.locked and self.save_retry is None and not self.closing:
            self.save_retry = self.clock.call_later(SAVE_RETRY, self.retry_save)
        if failure.text == self.save_told:
            return
        self.save_told = failure.text
        self.tell(Notification(failure.text, Severity.ERROR))

    def tell(self, notification: Notification) -> None:
        for listener in self.listeners:  # even while closing: the learner must know
            listener(notification)

    def retry_save(self) -> None:
        self.save_retry = None
        if not self.closing:
            self.save_progress()
