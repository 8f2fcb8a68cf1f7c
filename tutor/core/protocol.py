"""The messages that cross the pipe between the tutor and its test worker.

Each message is one JSON object on one line. Requests go to the worker; events come
back, each tagged with the run they belong to. Both sides import only this module,
so the format lives in one place.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any, ClassVar, TypeVar

from tutor.core.words import printable

T = TypeVar("T")
M = TypeVar("M", bound="Event | Request")


class Verdict(StrEnum):
    """How a run ended, exactly as it happened, and the one policy each ending follows."""

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
    # A test, probe or tutor module differs from its fingerprint: the run did not start.
    TAMPERED = "files changed"
    # Every test passes, but the learner's code gives other numbers than the reference on an
    # input the tests used: not solved.
    DIFFERS = "differs from the reference"

    @property
    def ok(self) -> bool:
        return self is Verdict.PASSED

    @property
    def counts_as_attempt(self) -> bool:
        """Whether the run tested the learner's code, and so counts in their progress.

        A missing file, a run superseded by a newer save, a run the worker lost and a run
        stopped because the tests themselves had changed tested nothing of the learner's.
        """
        return self not in (
            Verdict.MISSING,
            Verdict.CANCELLED,
            Verdict.INTERRUPTED,
            Verdict.TAMPERED,
        )

    @property
    def clean_failure(self) -> bool:
        """Whether a skeleton may end this way: a verdict on the code, not a broken run."""
        return self in (Verdict.FAILED, Verdict.ERROR)

    @property
    def advice(self) -> str:
        """What to try next, in one sentence; empty when the run's own details say it (an
        error names its file and line, and may be the pack's rather than the learner's)."""
        return ADVICE.get(self, "")


ADVICE = {
    Verdict.TIMED_OUT: "Look for a loop that never ends, a sleep, or a call to input().",
    Verdict.CRASHED: "Something below Python failed: undo your last change and save again.",
    Verdict.EXITED_EARLY: "Remove every exit(), sys.exit() and os._exit() from your file.",
    Verdict.OUT_OF_MEMORY: "Some tensor is far larger than the inputs: check its shape.",
    Verdict.NO_TESTS: "The exercise's tests could not be found: check the pack.",
    Verdict.MISSING: "Save your problem.py again, or reset the exercise to its skeleton.",
    Verdict.INTERRUPTED: "Save again or run the tests again: a new test worker starts.",
    Verdict.TAMPERED: "Restore the file as the message says; the tests run once it is back.",
    Verdict.DIFFERS: "The tests miss it, but the reference does not: look at the smallest "
    "input where the two part ways (e in the tutor, or attn-tutor explain).",
}


class Outcome(StrEnum):
    """How one test ended."""

    PASSED = "passed"
    FAILED = "failed"
    SKIPPED = "skipped"


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
    outcome: Outcome = Outcome.PASSED
    message: str = ""  # in the learner's terms, whole: views wrap it, never cut it
    line: int | None = None  # the line of the learner's problem.py where it failed
    duration: float = 0.0
    not_implemented: bool = False  # failed on a NotImplementedError: a TODO not yet filled in

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


ROLE_SHARE = 0.5  # a head does a job when more than half of its weight goes where it puts it


@dataclass(frozen=True)
class HeadScore:
    """How much one head of the picture does one job: its mean weight where the job puts it."""

    head: int  # the head's place in the picture, from 0
    role: str  # the job's short name, e.g. "prev-token"
    score: float  # from 0 to 1

    @property
    def named(self) -> bool:
        """Whether the head is shown as doing the job: past ``ROLE_SHARE`` of its weight."""
        return self.score >= ROLE_SHARE


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
    head_names: list[str] = field(default_factory=list)  # the probe's name of each head
    head_scores: list[HeadScore] = field(default_factory=list)  # the learner's heads' jobs
    reference_head_scores: list[HeadScore] = field(default_factory=list)
    role_meanings: dict[str, str] = field(default_factory=dict)  # job -> how its score is made
    notes: list[str] = field(default_factory=list)  # the probe's lines on the learner's module


@dataclass(frozen=True)
class Numbers:
    """A tensor as plain numbers: its shape and its values as nested lists (NaN and
    infinities allowed), or ``None`` for the side that has no such value."""

    shape: list[int] = field(default_factory=list)
    values: Any = None  # nested lists of float or bool, as deep as the shape is long


@dataclass(frozen=True)
class NamedNumbers:
    """One input of the example: its name in the call and its numbers."""

    name: str
    numbers: Numbers


@dataclass(frozen=True)
class Stage:
    """One step of attention, computed by the learner's code and by the reference.

    ``name`` is one of ``STAGES``; a side is ``None`` when its code has no such step
    (no scaling at all, say).
    """

    name: str
    learner: Numbers | None = None
    reference: Numbers | None = None
    differs: bool = False


# The steps of attention an example shows, in the order they happen.
STAGES = ("scores", "scaled", "masked", "weights", "output")


@dataclass(frozen=True)
class Example(Event):
    """The smallest input found on which the learner's code and the reference differ,
    worked through stage by stage. Sent after the verdict (and the picture)."""

    kind: ClassVar[str] = "example"
    call: str = ""  # the call, as code: "SimpleAttention(n_embd=2)(x)"
    shrunk_from: str = ""  # the test's call it was shrunk from: "x (2, 5, 8)"
    inputs: list[NamedNumbers] = field(default_factory=list)
    stages: list[Stage] = field(default_factory=list)
    first_difference: str = ""  # the name of the first stage that differs
    summary: str = ""  # one line in the learner's terms


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


@dataclass(frozen=True)
class ProtocolError(Event):
    """The worker could not understand a request line (``run_id`` is 0 when none was read)."""

    kind: ClassVar[str] = "protocol-error"
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
        Example,
        WorkerReady,
        Notice,
        ProtocolError,
    )
}
# Fields whose JSON string stands for an enum member.
ENUM_FIELDS: dict[str, type[StrEnum]] = {"verdict": Verdict, "outcome": Outcome}


def to_line(message: Event | Request) -> str:
    """One line of JSON, without the trailing newline."""
    tag = ("type", message.kind) if isinstance(message, Event) else ("op", message.op)
    payload: dict[str, Any] = {tag[0]: tag[1], **asdict(message)}
    return json.dumps(payload, separators=(",", ":"))


def encode(event: Event) -> str:
    """One event as one line of JSON, without the trailing newline."""
    return to_line(event)


def parse_object(line: str | bytes) -> dict[str, Any]:
    """A JSON object from one line; ``ValueError`` for anything else."""
    try:
        payload = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise ValueError(f"not a JSON line: {error}") from None
    if not isinstance(payload, dict):
        raise ValueError("not a JSON object")
    return payload


def cleaned(value: Any) -> Any:
    """``value`` with every string inside it made printable."""
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, list):
        return [cleaned(item) for item in value]
    if isinstance(value, dict):
        return {key: cleaned(item) for key, item in value.items()}
    return value


def build(cls: type[T], payload: dict[str, Any]) -> T:
    """``cls`` from the payload's known fields; ``ValueError`` if a value does not fit."""
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    values = {k: v for k, v in payload.items() if k in names}
    try:
        for name, enum in ENUM_FIELDS.items():
            if name in values:
                values[name] = enum(values[name])
        if "mutants" in values:
            values["mutants"] = tuple(MutantSpec(**m) for m in values["mutants"])
        if "tokens" in values:
            values["tokens"] = tuple(str(token) for token in values["tokens"])
        for name in ("head_scores", "reference_head_scores"):
            if name in values:
                values[name] = [HeadScore(**score) for score in values[name]]
        if "inputs" in values:
            values["inputs"] = [
                NamedNumbers(name=item["name"], numbers=Numbers(**item["numbers"]))
                for item in values["inputs"]
            ]
        if "stages" in values:
            values["stages"] = [stage_from(item) for item in values["stages"]]
        return cls(**values)
    except (TypeError, ValueError) as error:
        raise ValueError(f"a {cls.__name__} with bad fields: {error}") from None


def stage_from(payload: dict[str, Any]) -> Stage:
    sides = {
        side: Numbers(**payload[side]) if payload.get(side) is not None else None
        for side in ("learner", "reference")
    }
    return Stage(name=payload["name"], differs=bool(payload.get("differs")), **sides)


def decode_tagged(
    line: str | bytes, tag: str, types: Mapping[str, type[M]], what: str, *, clean: bool = False
) -> M:
    """The message a line holds, its class named by ``tag``; ``ValueError`` with the reason.

    ``clean`` makes every string in it printable (``tutor.core.words.printable``).
    """
    payload = parse_object(line)
    if clean:
        payload = cleaned(payload)
    cls = types.get(str(payload.pop(tag, "")))
    if cls is None:
        raise ValueError(f"unknown {what}")
    message = build(cls, payload)
    run_id = getattr(message, "run_id", None)
    if not isinstance(run_id, int) or isinstance(run_id, bool):
        raise ValueError("run_id is not a number")
    return message


def decode(line: str | bytes, *, clean: bool = True) -> Event:
    """Parse one line back into its event; ``ValueError`` if it is not one.

    Every text an event carries came from learner code or a pack: it is made printable here,
    the one door through which it reaches the tutor's views. The worker, which only relays
    events, passes ``clean=False``: the tutor's side cleans them once.
    """
    return decode_tagged(line, "type", EVENT_TYPES, "event type", clean=clean)


@dataclass(frozen=True)
class MutantSpec:
    """A known wrong solution the probe compares the learner's weights with."""

    path: str
    misconception: str
    hint: str = ""


@dataclass(frozen=True)
class Request:
    """Base of everything the tutor asks of the worker."""

    op: ClassVar[str] = ""
    run_id: int


@dataclass(frozen=True)
class RunRequest(Request):
    """Test one learner file against one exercise's pristine tests."""

    op: ClassVar[str] = "run"
    exercise_dir: str = ""
    problem: str = ""  # the learner's file
    timeout: float = 10.0
    memory_mb: int = 2048
    output_limit: int = 64 * 1024
    mutants: tuple[MutantSpec, ...] = ()  # for the probe's diagnosis; the child reads no TOML
    # Where the timeout comes from, as the learner would change it: "timeout in
    # exercise.toml", "timeout in pack.toml", "--timeout".
    timeout_setting: str = "--timeout"
    memory_setting: str = "memory in exercise.toml"  # likewise, for the memory limit
    entry: str = ""  # the name the tests exercise most (exercise.toml); "" when unknown
    differential: bool = True  # compare with solution.py after the tests (exercise.toml)
    tokens: tuple[str, ...] = ()  # the pack's labels for the picture's tokens

    def to_json(self) -> str:
        return to_line(self)


@dataclass(frozen=True)
class CancelRequest(Request):
    """Stop a run; the worker answers with its ``cancelled`` verdict and ``RunClosed``."""

    op: ClassVar[str] = "cancel"

    def to_json(self) -> str:
        return to_line(self)


REQUEST_TYPES: dict[str, type[Request]] = {cls.op: cls for cls in (RunRequest, CancelRequest)}


def decode_request(line: str | bytes) -> Request:
    """Parse one request line; ``ValueError`` with the reason if it is not one."""
    return decode_tagged(line, "op", REQUEST_TYPES, "op")
