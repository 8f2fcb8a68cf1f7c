"""Run reports and worked examples built by hand, for tests of the rules that read them."""

from __future__ import annotations

import math

from tutor.core.protocol import (
    Example,
    NamedNumbers,
    Numbers,
    Outcome,
    ProbeResult,
    RunFinished,
    RunStarted,
    Stage,
    TestOutcome,
    Verdict,
)
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


INF, NAN = math.inf, math.nan


def numbers(values: list[list[float]]) -> Numbers:
    """A batch of one (rows x columns) matrix."""
    return Numbers([1, len(values), len(values[0])], [values])


def unscaled() -> Example:
    """A learner who forgot the scale, on the smallest input the worker would find."""
    return Example(
        run_id=1,
        call="SimpleAttention(n_embd=2)(x)",
        shrunk_from="x (2, 5, 8)",
        inputs=[NamedNumbers("x", numbers([[1.0, 0.0], [0.0, 1.0]]))],
        stages=[
            Stage("scores", numbers([[1, 0], [0, 1]]), numbers([[1, 0], [0, 1]])),
            Stage("scaled", None, numbers([[0.71, 0.0], [0.0, 0.71]]), differs=True),
            Stage(
                "masked",
                numbers([[1.0, -INF], [0.0, 1.0]]),
                numbers([[0.71, -INF], [0.0, 0.71]]),
                differs=True,
            ),
            Stage(
                "weights",
                numbers([[1.0, 0.0], [0.27, 0.73]]),
                numbers([[1.0, 0.0], [0.33, 0.67]]),
                differs=True,
            ),
            Stage(
                "output",
                numbers([[1.0, 0.0], [0.27, NAN]]),
                numbers([[1.0, 0.0], [0.33, 0.67]]),
                differs=True,
            ),
        ],
        first_difference="scaled",
        summary="Your scores are not divided by sqrt(d), so every weight comes out too sharp.",
    )
