"""The JSON-lines protocol and the run report built from its events."""

from __future__ import annotations

import pytest

from tutor.core.protocol import (
    CollectionError,
    Event,
    Notice,
    ProbeResult,
    RunClosed,
    RunFinished,
    RunRequest,
    RunStarted,
    TestOutcome,
    Verdict,
    WorkerReady,
    decode,
    encode,
)
from tutor.core.report import RunReport

EVENTS: list[Event] = [
    RunStarted(run_id=1, tests=3),
    TestOutcome(run_id=1, name="test_a[2-3]", file="t.py", outcome="failed", message="m", line=4),
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


def test_request_is_one_json_line() -> None:
    line = RunRequest(run_id=3, exercise_dir="/a b", problem="/ü/problem.py").to_json()
    assert "\n" not in line
    assert '"op":"run"' in line


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
    ok = TestOutcome(run_id=1, name="test_a", outcome="passed")
    bad = TestOutcome(run_id=1, name="test_b", outcome="failed", message="wrong axis")
    todo = TestOutcome(run_id=1, name="test_c", outcome="failed", message="not implemented yet: x")
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
