"""Collect one run's events and say what they mean, in the same words everywhere."""

from __future__ import annotations

from dataclasses import dataclass, field

from tutor.core.protocol import (
    CollectionError,
    Event,
    Example,
    Notice,
    Outcome,
    ProbeResult,
    ProtocolError,
    RunFinished,
    RunStarted,
    TestOutcome,
    Verdict,
)

NOT_IMPLEMENTED = "not implemented yet"  # the words of a NotImplementedError's message


@dataclass
class RunReport:
    """Everything known about one run so far; ``add`` each event as it arrives."""

    expected: int = 0
    outcomes: list[TestOutcome] = field(default_factory=list)
    errors: list[CollectionError] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)
    finished: RunFinished | None = None
    probe: ProbeResult | None = None
    example: Example | None = None  # the smallest input where learner and reference differ

    def add(self, event: Event) -> None:
        if isinstance(event, RunStarted):
            self.expected = event.tests
        elif isinstance(event, TestOutcome):
            self.outcomes.append(event)
        elif isinstance(event, CollectionError):
            self.errors.append(event)
        elif isinstance(event, Notice | ProtocolError):
            self.notices.append(event.text)
        elif isinstance(event, RunFinished):
            self.finished = event
        elif isinstance(event, ProbeResult):
            self.probe = event
        elif isinstance(event, Example):
            self.example = event

    @property
    def done(self) -> bool:
        return self.finished is not None

    @property
    def passed(self) -> bool:
        return self.finished is not None and self.finished.verdict is Verdict.PASSED

    @property
    def failing_tests(self) -> set[str]:
        return {o.function for o in self.failures}

    @property
    def failures(self) -> list[TestOutcome]:
        return [o for o in self.outcomes if o.outcome is Outcome.FAILED]

    @property
    def not_implemented(self) -> bool:
        """Every failure is a TODO the learner has not filled in yet."""
        failed = self.failures
        return bool(failed) and all(o.not_implemented for o in failed)

    def headline(self) -> str:
        """One line: the verdict and the count, in the learner's terms."""
        if self.finished is None:
            done = len(self.outcomes)
            of = f" of {self.expected}" if self.expected else ""
            return f"running… {done}{of} tests done"
        finished = self.finished
        count = sum(o.outcome is Outcome.PASSED for o in self.outcomes)
        total = finished.total or len(self.outcomes)
        match finished.verdict:
            case Verdict.PASSED:
                return f"all {total} tests pass"
            case Verdict.FAILED if self.not_implemented:
                return f"{NOT_IMPLEMENTED}: 0 of {total} tests pass; fill in the TODOs"
            case Verdict.FAILED:
                return f"{count} of {total} tests pass"
            case Verdict.DIFFERS:
                return f"all {total} tests pass, but {finished.message}"
            case Verdict.ERROR:
                return finished.message or "your file has an error before any test could run"
            case verdict:
                return f"{verdict.value}: {finished.message}" if finished.message else verdict.value
