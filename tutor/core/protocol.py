"""The messages that cross the pipe between the tutor and its test worker.

Each message is one JSON object on one line. Requests go to the worker; events come
back, each tagged with the run they belong to. Both sides import only this module,
so the format lives in one place.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any, ClassVar


class Verdict(StrEnum):
    """How a run ended, exactly as it happened."""

    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"  # the learner's file could not be imported (syntax error, exception at import)
    TIMED_OUT = "timed out"
    CRASHED = "crashed"  # killed by a signal
    EXITED_EARLY = "exited early"  # os._exit / sys.exit / exit code before the tests finished
    OUT_OF_MEMORY = "out of memory"
    NO_TESTS = "no tests"
    MISSING = "missing file"  # problem.py is gone or unreadable
    CANCELLED = "cancelled"  # a newer save superseded it
    INTERRUPTED = "interrupted"  # the worker itself went away mid-run

    @property
    def ok(self) -> bool:
        return self is Verdict.PASSED


@dataclass(frozen=True)
class Event:
    """Base of everything the worker sends about a run."""

    kind: ClassVar[str] = ""
    run_id: int


@dataclass(frozen=True)
class RunStarted(Event):
    kind: ClassVar[str] = "started"
    tests: int = 0  # how many tests were collected (0 until collection is done)


@dataclass(frozen=True)
class TestOutcome(Event):
    """One test finished."""

    __test__: ClassVar[bool] = False  # a message, not a pytest test class
    kind: ClassVar[str] = "test"
    name: str = ""  # the test function, with parameters: test_shapes[2-5]
    file: str = ""  # the test file's name
    outcome: str = "passed"  # passed | failed | skipped
    message: str = ""  # one or two lines in the learner's terms
    line: int | None = None  # the line of the learner's problem.py where it failed
    duration: float = 0.0

    @property
    def function(self) -> str:
        """The test function's name without parameters, as hints name it."""
        return self.name.split("[", 1)[0]


@dataclass(frozen=True)
class CollectionError(Event):
    """The learner's file or a test file could not be imported."""

    kind: ClassVar[str] = "collection-error"
    file: str = ""
    line: int | None = None
    message: str = ""


@dataclass(frozen=True)
class RunFinished(Event):
    """The last event of every run, whatever happened."""

    kind: ClassVar[str] = "finished"
    verdict: Verdict = Verdict.FAILED
    passed: int = 0
    failed: int = 0
    total: int = 0
    duration: float = 0.0
    message: str = ""  # what happened and what to try, for anything but pass/fail
    output: str = ""  # the tail of what the learner's code printed


@dataclass(frozen=True)
class RunClosed(Event):
    """Nothing more will come for this run (its verdict came first, its picture after)."""

    kind: ClassVar[str] = "closed"


@dataclass(frozen=True)
class ProbeResult(Event):
    """The attention weights of the learner's code and of the reference on the example.

    Each matrix list holds one (queries x keys) matrix per head.
    """

    kind: ClassVar[str] = "probe"
    queries: list[str] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    learner: list[list[list[float]]] | None = None
    reference: list[list[list[float]]] | None = None
    allowed: list[list[bool]] | None = None  # False where a weight must be 0 (masked)
    problem: str = ""  # why the learner's weights could not be captured
    diagnosis: str = ""  # which known mistake the learner's weights equal, if one does
    diagnosis_hint: str = ""  # the id of the hint for that mistake
    learner_trace: list[str] = field(default_factory=list)  # "matmul (1, 6, 6)", step by step
    reference_trace: list[str] = field(default_factory=list)
    step_names: list[str] = field(default_factory=list)  # the lesson's names of reference_trace


@dataclass(frozen=True)
class WorkerReady(Event):
    """The worker has imported torch and pytest and takes runs (``run_id`` is 0)."""

    kind: ClassVar[str] = "ready"
    fork: bool = True  # False: each run starts a cold process


@dataclass(frozen=True)
class Notice(Event):
    """Something the learner should know about the runner itself, not about their code."""

    kind: ClassVar[str] = "notice"
    text: str = ""


EVENT_TYPES: dict[str, type[Event]] = {
    cls.kind: cls
    for cls in (
        RunStarted,
        TestOutcome,
        CollectionError,
        RunFinished,
        RunClosed,
        ProbeResult,
        WorkerReady,
        Notice,
    )
}


def encode(event: Event) -> str:
    """One line of JSON, without the trailing newline."""
    payload: dict[str, Any] = {"type": event.kind, **asdict(event)}
    return json.dumps(payload, separators=(",", ":"))


def decode(line: str | bytes) -> Event:
    """Parse one line back into its event; ``ValueError`` if it is not one."""
    try:
        payload = json.loads(line)
    except json.JSONDecodeError as error:
        raise ValueError(f"not a JSON line: {error}") from None
    if not isinstance(payload, dict):
        raise ValueError("not a JSON object")
    cls = EVENT_TYPES.get(str(payload.pop("type", "")))
    if cls is None:
        raise ValueError("unknown event type")
    names = {f.name for f in fields(cls)}
    values = {k: v for k, v in payload.items() if k in names}
    if "verdict" in values:
        values["verdict"] = Verdict(values["verdict"])
    return cls(**values)


@dataclass(frozen=True)
class RunRequest:
    """Ask the worker to test one learner file against one exercise's pristine tests."""

    run_id: int
    exercise_dir: str
    problem: str  # the learner's file
    timeout: float = 10.0
    memory_mb: int = 2048
    output_limit: int = 64 * 1024

    def to_json(self) -> str:
        return json.dumps({"op": "run", **asdict(self)}, separators=(",", ":"))
