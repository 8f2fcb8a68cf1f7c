"""The warm test worker: imports torch and pytest once, then forks one child per run.

It speaks JSON lines (``tutor.core.protocol``): requests on stdin, events on stdout.
The loop is single-threaded on purpose, so forking from it is safe, and it runs no
torch operation before forking. It decides every run's final verdict itself, from
what the child reported *and* how the child ended, so a learner's ``os._exit(0)`` or
a crash can never read as a pass. Before each run it checks that the exercise's files and
the tutor's own modules are as it fingerprinted them (``tutor.core.fingerprint``): a run
whose tests were changed would judge nothing. It exits when stdin closes (the tutor is gone).
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import os
import selectors
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from tutor.core.fingerprint import Integrity
from tutor.core.protocol import (
    CancelRequest,
    CollectionError,
    Event,
    Example,
    Notice,
    Outcome,
    ProbeResult,
    ProtocolError,
    RunClosed,
    RunFinished,
    RunRequest,
    RunStarted,
    TestOutcome,
    Verdict,
    WorkerReady,
    decode,
    decode_request,
    encode,
)
from tutor.worker.child import EXIT_CHANNEL_LOST, OUTPUT_FILE, remember_imports, run_child
from tutor.worker.scratch import new_run_folder, scratch_root, sweep
from tutor.worker.warm import warm_up

TICK = 0.02
PROBE_BUDGET = 2.0  # seconds the attention picture may take once the tests' verdict is in
FORWARDED = (RunStarted, TestOutcome, CollectionError, ProbeResult, Example, Notice)
PR_SET_PDEATHSIG = 1
PR_SET_CHILD_SUBREAPER = 36
SWEEP_AFTER = 2.0  # seconds after a run ends to keep looking for processes it left behind


@dataclass
class Run:
    """A child process running one request, and what it has said so far."""

    request: RunRequest
    pid: int
    events: int  # read end of the child's event pipe
    workdir: Path
    started: float
    buffer: bytes = b""
    finished: RunFinished | None = None
    finished_at: float = 0.0
    delivered: bool = False  # the verdict has gone to the tutor
    last_test: str = ""
    counts: RunFinished = field(default_factory=lambda: RunFinished(run_id=0))


def signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


class Worker:
    """The request loop. One instance per worker process."""

    def __init__(self, use_fork: bool, scratch: Path, integrity: Integrity) -> None:
        self.use_fork = use_fork
        self.scratch = scratch  # the private folder that holds the runs' folders
        self.integrity = integrity
        self.runs: dict[int, Run] = {}
        self.selector = selectors.DefaultSelector()
        self.stdin_buffer = b""
        self.closing = False
        self.sweep_until = 0.0

    def send(self, event: Event) -> None:
        sys.stdout.write(encode(event) + "\n")
        sys.stdout.flush()

    def serve(self) -> None:
        os.set_blocking(0, False)
        self.selector.register(0, selectors.EVENT_READ, None)
        self.send(WorkerReady(run_id=0, fork=self.use_fork))
        while not self.closing or self.runs:
            sweeping = time.monotonic() < self.sweep_until
            timeout = TICK if self.runs or sweeping else None
            for key, _ in self.selector.select(timeout):
                if key.data is None:
                    self.read_requests()
                else:
                    self.read_events(key.data)
            self.reap()
            if sweeping:
                self.sweep()
        self.sweep()
        self.selector.close()

    def read_requests(self) -> None:
        try:
            chunk = os.read(0, 65536)
        except BlockingIOError:
            return
        if not chunk:
            # The tutor has gone: nothing may outlive it.
            self.selector.unregister(0)
            self.closing = True
            for run in list(self.runs.values()):
                self.stop(run, None)
            return
        self.stdin_buffer += chunk
        *lines, self.stdin_buffer = self.stdin_buffer.split(b"\n")
        for line in lines:
            if line.strip():
                self.handle(line)

    def handle(self, line: bytes) -> None:
        try:
            request = decode_request(line)
        except ValueError as error:
            # The tutor sent something this worker does not understand: say so, go on.
            self.send(ProtocolError(run_id=0, text=f"the test worker ignored a request: {error}"))
            return
        if isinstance(request, RunRequest):
            self.start(request)
        elif isinstance(request, CancelRequest):
            run = self.runs.get(request.run_id)
            if run is not None:
                self.stop(run, RunFinished(run_id=run.request.run_id, verdict=Verdict.CANCELLED))

    def start(self, request: RunRequest) -> None:
        changed = self.integrity.check(Path(request.exercise_dir))
        if changed:
            self.send(RunFinished(run_id=request.run_id, verdict=Verdict.TAMPERED, message=changed))
            self.send(RunClosed(run_id=request.run_id))
            return
        workdir = new_run_folder(self.scratch)
        read_end, write_end = os.pipe()
        if self.use_fork:
            remember_imports(Path(request.exercise_dir))
            pid = os.fork()
            if pid == 0:
                os.close(read_end)
                os.close(0)
                run_child(request, workdir, write_end)
        else:
            process = subprocess.Popen(
                [
                    sys.executable,
                    "-I",  # as the worker: nothing from the current folder or PYTHON* variables
                    "-m",
                    "tutor.worker.child",
                    request.to_json(),
                    str(workdir),
                    str(write_end),
                ],
                pass_fds=[write_end],
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
            pid = process.pid
        os.close(write_end)
        os.set_blocking(read_end, False)
        run = Run(
            request=request, pid=pid, events=read_end, workdir=workdir, started=time.monotonic()
        )
        self.runs[request.run_id] = run
        self.selector.register(read_end, selectors.EVENT_READ, run)

    def read_events(self, run: Run) -> None:
        if self.runs.get(run.request.run_id) is not run:
            return  # finished earlier in this same round of select; its fd may be reused
        try:
            chunk = os.read(run.events, 65536)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            with contextlib.suppress(KeyError, ValueError):
                self.selector.unregister(run.events)
            return
        run.buffer += chunk
        *lines, run.buffer = run.buffer.split(b"\n")
        for line in lines:
            self.relay(run, line)

    def relay(self, run: Run, line: bytes) -> None:
        try:
            event = decode(line, clean=False)  # relayed as is; the tutor cleans it
        except (ValueError, TypeError):
            return
        # The child cannot speak for another run, whatever it writes.
        event = replace(event, run_id=run.request.run_id)
        if isinstance(event, RunFinished):
            if run.finished is None:  # the first verdict is the run's; nothing overrides it
                run.finished = event
                run.finished_at = time.monotonic()
                self.deliver(run, event)  # at once: the picture, if any, follows
        elif isinstance(event, FORWARDED):
            if isinstance(event, TestOutcome):
                run.last_test = event.name
                c = run.counts
                if event.outcome is Outcome.PASSED:
                    run.counts = replace(c, passed=c.passed + 1)
                elif event.outcome is Outcome.FAILED:
                    run.counts = replace(c, failed=c.failed + 1)
            if isinstance(event, RunStarted):
                run.counts = replace(run.counts, total=event.tests)
            self.send(event)

    def reap(self) -> None:
        now = time.monotonic()
        for run in list(self.runs.values()):
            try:
                pid, status = os.waitpid(run.pid, os.WNOHANG)
            except ChildProcessError:
                pid, status = run.pid, 0
            if pid == 0:
                if run.finished is not None and now - run.finished_at > PROBE_BUDGET:
                    self.stop(run, run.finished)  # the picture took too long: give it up
                elif now - run.started > run.request.timeout:
                    # Past its verdict, a run is only drawing the attention picture: the
                    # test results stand.
                    self.stop(run, run.finished or self.timed_out(run))
                continue
            self.drain(run)
            self.finish(run, self.verdict(run, status))

    def drain(self, run: Run) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self.selector.get_key(run.events)
            while True:
                before = len(run.buffer)
                self.read_events(run)
                try:
                    self.selector.get_key(run.events)
                except (KeyError, ValueError):
                    break
                if len(run.buffer) == before:
                    break

    def verdict(self, run: Run, status: int) -> RunFinished:
        run_id = run.request.run_id
        where = f" after {run.last_test}" if run.last_test else ""
        if run.finished is not None:
            return run.finished  # whatever ended the child came after the tests' verdict
        if os.WIFSIGNALED(status):
            number = os.WTERMSIG(status)
            if number == signal.SIGKILL:
                message = (
                    "the test process was killed (SIGKILL), most likely for using too much memory"
                )
                return replace(
                    run.counts, run_id=run_id, verdict=Verdict.OUT_OF_MEMORY, message=message
                )
            return replace(
                run.counts,
                run_id=run_id,
                verdict=Verdict.CRASHED,
                message=f"the test process crashed with {signal_name(number)}{where}: "
                "native code (ctypes, a bad tensor operation) failed hard",
            )
        code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else -1
        if code == EXIT_CHANNEL_LOST:
            message = (
                "the test process lost its connection to the tutor (were file descriptors closed?)"
            )
        else:
            message = (
                f"the test process ended with exit code {code}{where}, before the "
                "tests finished: something in your file ended the program "
                "(os._exit, exit, or sys.exit in a thread)"
            )
        return replace(run.counts, run_id=run_id, verdict=Verdict.EXITED_EARLY, message=message)

    def timed_out(self, run: Run) -> RunFinished:
        where = f" (the last test to finish was {run.last_test})" if run.last_test else ""
        return replace(
            run.counts,
            run_id=run.request.run_id,
            verdict=Verdict.TIMED_OUT,
            message=f"the tests did not finish within {run.request.timeout:g} s{where}; "
            f"if the exercise is heavy, raise {run.request.timeout_setting}",
        )

    def stop(self, run: Run, finished: RunFinished | None) -> None:
        """Kill the run's whole process group and report ``finished`` (if any)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(run.pid, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError):
            os.kill(run.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(run.pid, 0)
        self.finish(run, finished)

    def finish(self, run: Run, finished: RunFinished | None) -> None:
        self.runs.pop(run.request.run_id, None)
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(run.events)
        os.close(run.events)
        # Whatever the learner's code started in its group goes with it.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(run.pid, signal.SIGKILL)
        if finished is not None:
            self.deliver(run, finished)
        self.sweep()
        self.sweep_until = time.monotonic() + SWEEP_AFTER
        self.send(RunClosed(run_id=run.request.run_id))
        shutil.rmtree(run.workdir, ignore_errors=True)

    def sweep(self) -> None:
        """End and reap every child of the worker that is not a live run.

        The worker is a subreaper: processes the learner's code started in a session of
        their own, and then orphaned, come back to it here instead of outliving the run.
        """
        live = {run.pid for run in self.runs.values()}
        for pid in children():
            if pid in live:
                continue
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, os.WNOHANG)

    def deliver(self, run: Run, finished: RunFinished) -> None:
        """Send the run's verdict, once, with its duration and the tail of its output."""
        if run.delivered:
            return
        run.delivered = True
        output = read_tail(run.workdir / OUTPUT_FILE, run.request.output_limit)
        duration = round(time.monotonic() - run.started, 4)
        self.send(replace(memory_advice(run.request, finished), duration=duration, output=output))


def memory_advice(request: RunRequest, finished: RunFinished) -> RunFinished:
    """An out-of-memory verdict that names the setting to raise, wherever it was found."""
    if finished.verdict is not Verdict.OUT_OF_MEMORY:
        return finished
    advice = (
        f"; the limit is {request.memory_mb} MB: if the exercise needs more, "
        f"raise {request.memory_setting}"
    )
    return replace(finished, message=finished.message + advice)


def read_tail(path: Path, limit: int) -> str:
    """The last ``limit`` bytes the learner's code printed, as text."""
    try:
        with path.open("rb") as handle:
            size = handle.seek(0, os.SEEK_END)
            handle.seek(max(0, size - limit))
            data = handle.read()
    except OSError:
        return ""
    text = data.decode("utf-8", errors="replace")
    return f"[... {size - limit} bytes cut ...]\n{text}" if size > limit else text


def children() -> list[int]:
    """This process's child processes, as Linux lists them (per thread)."""
    found: list[int] = []
    for task in Path("/proc/self/task").glob("*"):
        with contextlib.suppress(OSError, ValueError):
            found.extend(int(word) for word in (task / "children").read_text().split())
    return found


def die_with_parent() -> None:
    """Ask Linux to end this worker when the tutor that started it ends, even by SIGKILL,
    and to hand it every orphan among its descendants, so none outlives a run."""
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1)


def arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="tutor.worker.server")
    parser.add_argument("--pack", type=Path, help="the pack the tutor opened")
    parser.add_argument("--record", type=Path, help="where the workspace keeps its fingerprint")
    return parser.parse_args()


def main() -> None:
    die_with_parent()
    options = arguments()
    # Before any learner code exists: what every run's files are checked against.
    integrity = Integrity.open(options.pack, options.record)
    worker: Worker | None = None

    def end(signum: int, frame: object) -> None:
        if worker is not None:
            for run in list(worker.runs.values()):
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(run.pid, signal.SIGKILL)
                shutil.rmtree(run.workdir, ignore_errors=True)
        os._exit(0)

    signal.signal(signal.SIGTERM, end)
    signal.signal(signal.SIGHUP, end)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in the terminal is the tutor's to handle
    use_fork = hasattr(os, "fork") and os.environ.get("ATTN_TUTOR_NO_FORK") != "1"
    scratch = scratch_root()
    sweep(scratch)  # what a killed worker left behind
    if use_fork:
        warm_up()
        # Everything imported so far lives as long as the worker: keep the collector (in the
        # children too) from walking it, which also keeps those pages shared after fork.
        gc.freeze()
    worker = Worker(use_fork, scratch, integrity)
    worker.serve()


if __name__ == "__main__":
    main()
