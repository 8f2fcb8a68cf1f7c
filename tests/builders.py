"""Run reports built by hand, for tests of the rules that read them."""

from __future__ import annotations

from tutor.core.protocol import Outcome, ProbeResult, RunFinished, RunStarted, TestOutcome, Verdict
from tutor.core.report import RunReport


def report_of(
    verdict: Verdict | bool, failing: tuple[str, ...] = (), diagnosis_hint: str = ""
) -> RunReport:
    """A finished run: ``True``/``False`` for a pass or a plain failure, else the verdict."""
    if isinstance(verdict, bool):
        verdict = Verdict.PASSED if verdict else Verdict.FAILED
    report = RunReport()
    report.add(RunStarted(run_id=1, tests=len(failing) + 1))
    report.add(TestOutcome(run_id=1, name="test_shapes"))
    for name in failing:
        report.add(TestOutcome(run_id=1, name=name, outcome=Outcome.FAILED, message="wrong"))
    report.add(RunFinished(run_id=1, verdict=verdict, total=len(failing) + 1))
    if diagnosis_hint:
        report.add(ProbeResult(run_id=1, diagnosis="a mistake", diagnosis_hint=diagnosis_hint))
    return report
