"""The JSON-lines protocol and the run report built from its events."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tutor.core.protocol import (
    CancelRequest,
    CollectionError,
    Event,
    HeadScore,
    MutantSpec,
    Notice,
    Outcome,
    ProbeResult,
    ProtocolError,
    Request,
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
    to_line,
)
from tutor.core.report import RunReport

EVENTS: list[Event] = [
    RunStarted(run_id=1, tests=3),
    TestOutcome(
        run_id=1, name="test_a[2-3]", file="t.py", outcome=Outcome.FAILED, message="m", line=4
    ),
    TestOutcome(run_id=1, name="test_b", outcome=Outcome.FAILED, not_implemented=True),
    ProtocolError(run_id=0, text="the test worker ignored a request: unknown op"),
    CollectionError(run_id=1, file="problem.py", line=2, message="SyntaxError: x"),
    RunFinished(run_id=1, verdict=Verdict.TIMED_OUT, passed=1, failed=2, total=3, message="slow"),
    WorkerReady(run_id=0, fork=False),
    Notice(run_id=2, text="restarted"),
    ProbeResult(
        run_id=3,
        queries=["The", "cat"],
        keys=["The", "cat"],
        learner=[[[1.0, 0.0], [0.5, 0.5]]],
        reference=[[[1.0, 0.0], [0.5, 0.5]]],
        allowed=[[True, False], [True, True]],
        learner_trace=["matmul (1, 2, 2)"],
        reference_trace=["matmul (1, 2, 2)", "softmax (1, 2, 2)"],
        step_names=["scores = Q K^T", "weights = softmax"],
        head_names=["L1 H1"],
        head_scores=[HeadScore(head=0, role="prev-token", score=0.5)],
        reference_head_scores=[HeadScore(head=0, role="prev-token", score=0.75)],
        role_meanings={"prev-token": "the weight on the token before"},
        notes=["held-out loss 1.62"],
    ),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: e.kind)
def test_every_event_round_trips(event: Event) -> None:
    line = encode(event)
    assert "\n" not in line
    assert decode(line) == event


@pytest.mark.parametrize("line", ["", "nonsense", "[1]", '{"type": "unknown"}'])
def test_garbage_lines_are_rejected(line: str) -> None:
    with pytest.raises(ValueError, match=r"\w"):
        decode(line)


REQUESTS: list[Request] = [
    RunRequest(run_id=3, exercise_dir="/a b", problem="/ü/problem.py"),
    RunRequest(
        run_id=4,
        exercise_dir="/e",
        problem="/p",
        mutants=(MutantSpec(path="/e/mutants/m.py", misconception="no scale", hint="scale"),),
    ),
    CancelRequest(run_id=3),
]


@pytest.mark.parametrize("request_", REQUESTS, ids=lambda r: r.op)
def test_every_request_round_trips(request_: Request) -> None:
    line = to_line(request_)
    assert "\n" not in line
    assert decode_request(line) == request_


@pytest.mark.parametrize(
    "line",
    [
        "",
        "nonsense",
        '{"op": "shutdown", "run_id": 1}',
        '{"op": "run"}',
        '{"op": "cancel", "run_id": "x"}',
        '{"op": "run", "run_id": 1, "mutants": [3]}',
        '{"op": "run", "run_id": 1, "surprise": 2, "timeout": 1}',
    ],
)
def test_malformed_requests_are_refused_with_a_reason(line: str) -> None:
    if '"surprise"' in line:
        # Unknown fields are ignored, so an older worker still reads a newer tutor's request.
        assert decode_request(line) == RunRequest(run_id=1, timeout=1)
        return
    with pytest.raises(ValueError, match=r"\w"):
        decode_request(line)


def test_a_malformed_event_field_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="TestOutcome"):
        decode('{"type": "test", "run_id": 1, "outcome": "exploded"}')


def test_the_worker_answers_a_malformed_request_with_an_error_event() -> None:
    """A line the worker cannot read gets an error event back, and the worker goes on."""
    worker = subprocess.Popen(
        [sys.executable, "-m", "tutor.worker.server"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env={**os.environ, "ATTN_TUTOR_NO_FORK": "1"},  # no torch: the loop alone
    )
    try:
        out, _ = worker.communicate(b'{"op": "explode"}\n[1, 2]\n', timeout=30)
    finally:
        worker.kill()
    events = [decode(line) for line in out.splitlines()]
    assert isinstance(events[0], WorkerReady)
    errors = [e for e in events if isinstance(e, ProtocolError)]
    assert [e.text for e in errors] == [
        "the test worker ignored a request: unknown op",
        "the test worker ignored a request: not a JSON object",
    ]
    assert worker.returncode == 0


def test_the_verdict_policy() -> None:
    """Each verdict knows whether it counts, whether a skeleton may end so, and its advice."""
    not_counted = {v for v in Verdict if not v.counts_as_attempt}
    assert not_counted == {
        Verdict.MISSING,
        Verdict.CANCELLED,
        Verdict.INTERRUPTED,
        Verdict.TAMPERED,
    }
    assert {v for v in Verdict if v.clean_failure} == {Verdict.FAILED, Verdict.ERROR}
    silent = {v for v in Verdict if not v.advice}
    assert silent == {Verdict.PASSED, Verdict.FAILED, Verdict.ERROR, Verdict.CANCELLED}


def test_test_function_name_drops_parameters() -> None:
    assert TestOutcome(run_id=1, name="test_shapes[2-5]").function == "test_shapes"


def finished_report(verdict: Verdict, *outcomes: TestOutcome, message: str = "") -> RunReport:
    report = RunReport()
    report.add(RunStarted(run_id=1, tests=len(outcomes)))
    for outcome in outcomes:
        report.add(outcome)
    report.add(RunFinished(run_id=1, verdict=verdict, total=len(outcomes), message=message))
    return report


def test_headlines_speak_plainly() -> None:
    ok = TestOutcome(run_id=1, name="test_a", outcome=Outcome.PASSED)
    bad = TestOutcome(run_id=1, name="test_b", outcome=Outcome.FAILED, message="wrong axis")
    todo = TestOutcome(
        run_id=1, name="test_c", outcome=Outcome.FAILED, message="x", not_implemented=True
    )
    assert finished_report(Verdict.PASSED, ok).headline() == "all 1 tests pass"
    assert finished_report(Verdict.FAILED, ok, bad).headline() == "1 of 2 tests pass"
    assert finished_report(Verdict.FAILED, todo).headline().startswith("not implemented yet")
    crashed = finished_report(Verdict.CRASHED, message="SIGSEGV")
    assert crashed.headline() == "crashed: SIGSEGV"
    assert finished_report(Verdict.FAILED, ok, bad).failing_tests == {"test_b"}


def test_running_headline_counts_progress() -> None:
    report = RunReport()
    report.add(RunStarted(run_id=1, tests=4))
    report.add(TestOutcome(run_id=1, name="test_a"))
    assert not report.done
    assert report.headline() == "running… 1 of 4 tests done"


def test_closed_round_trips() -> None:
    assert decode(encode(RunClosed(run_id=4))) == RunClosed(run_id=4)


def test_a_probe_line_without_step_names_still_decodes() -> None:
    """A worker from before step names existed sends none: the trace falls back to op names."""
    line = '{"type":"probe","run_id":1,"reference_trace":["matmul (1, 2, 2)"]}'
    event = decode(line)
    assert isinstance(event, ProbeResult)
    assert event.step_names == []
    assert event.reference_trace == ["matmul (1, 2, 2)"]
