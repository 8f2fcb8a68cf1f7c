"""``attn-tutor verify``: the authoring self-check of an exercise pack.

For every exercise: the solution passes, the skeleton fails cleanly (a verdict, not a
crash or a timeout), every mutant is caught by at least one test, and the metadata
(lesson, hints linked to real tests) holds. One row per exercise; exit 0 only if all do.

Then the strength of the tests: mutants made from each reference by the attention-aware
operators of ``tutor.core.mutation`` are run too, and counted as caught by the tests,
caught only by the comparison with the reference, or survived (listed by name). The
score informs the author; it does not change the exit code.
"""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path

from tutor.core import catalog as catalog_module
from tutor.core.catalog import Exercise
from tutor.core.mutation import Generated, mutants
from tutor.core.protocol import CollectionError, Verdict
from tutor.core.report import RunReport
from tutor.runner import Runner

PARALLEL_RUNS = 2


class Caught(StrEnum):
    """What became of a generated mutant."""

    BY_TESTS = "caught by the tests"
    BY_COMPARISON = "caught only by the comparison with the reference"
    SURVIVED = "survived"


def caught(verdict: Verdict) -> Caught:
    """A mutant's fate from its run's verdict: any ending but a pass is the tests' catch."""
    if verdict is Verdict.PASSED:
        return Caught.SURVIVED
    if verdict is Verdict.DIFFERS:
        return Caught.BY_COMPARISON
    return Caught.BY_TESTS


@dataclass
class ExerciseCheck:
    """What verify found for one exercise."""

    exercise: Exercise
    tests: int = 0
    suite_seconds: float = 0.0
    caught: int = 0
    problems: list[str] = field(default_factory=list)
    generated: list[tuple[Generated, Caught]] = field(default_factory=list)

    def count(self, fate: Caught) -> int:
        return sum(found is fate for _, found in self.generated)

    @property
    def ok(self) -> bool:
        return not self.problems


async def run_file(
    runner: Runner, gate: asyncio.Semaphore, exercise: Exercise, path: Path
) -> RunReport:
    report = RunReport()
    async with gate:
        async for event in runner.run(exercise, path):
            report.add(event)
    return report


async def check_exercise(
    runner: Runner, gate: asyncio.Semaphore, exercise: Exercise
) -> ExerciseCheck:
    result = ExerciseCheck(exercise)
    solution = exercise.solution
    jobs = [run_file(runner, gate, exercise, exercise.skeleton)]
    if solution is not None:
        jobs.append(run_file(runner, gate, exercise, solution))
    jobs += [run_file(runner, gate, exercise, mutant.path) for mutant in exercise.mutants]
    reports = await asyncio.gather(*jobs)
    skeleton = reports[0]
    assert skeleton.finished is not None
    if not skeleton.finished.verdict.clean_failure:
        result.problems.append(
            f"the skeleton should fail cleanly, but its run ended {skeleton.headline()}"
        )
    rest = reports[1:]
    if solution is None:
        result.problems.append("no solution.py to check the tests against")
    else:
        report, rest = rest[0], rest[1:]
        assert report.finished is not None
        result.tests = report.finished.total
        result.suite_seconds = report.finished.duration
        if not report.passed:
            failing = (
                "; ".join(load_error(error) for error in report.errors)
                or ", ".join(sorted(report.failing_tests))
                or report.headline()
            )
            result.problems.append(f"the solution does not pass: {failing}")
    for mutant, report in zip(exercise.mutants, rest, strict=True):
        if report.passed:
            result.problems.append(
                f"mutant {mutant.path.name} ({mutant.misconception}) passes every test"
            )
        else:
            result.caught += 1
    if solution is not None and result.ok:
        result.generated = await strength(runner, gate, exercise, solution)
    return result


async def strength(
    runner: Runner, gate: asyncio.Semaphore, exercise: Exercise, solution: Path
) -> list[tuple[Generated, Caught]]:
    """Each mutant the operators make of the reference, and what caught it."""
    made = mutants(solution.read_text(encoding="utf-8", errors="replace"))
    if not made:
        return []
    with tempfile.TemporaryDirectory(prefix="attn-tutor-mutants-") as folder:
        paths = []
        for number, mutant in enumerate(made):
            path = Path(folder) / f"{number:03d}-{mutant.name}.py"
            path.write_text(mutant.source, encoding="utf-8")
            paths.append(path)
        reports = await asyncio.gather(*(run_file(runner, gate, exercise, path) for path in paths))
    return [
        (mutant, caught(report.finished.verdict if report.finished else Verdict.INTERRUPTED))
        for mutant, report in zip(made, reports, strict=True)
    ]


def load_error(error: CollectionError) -> str:
    """A file that could not be loaded, and the last line of its error."""
    where = f"{error.file} line {error.line}" if error.line else error.file
    last = (error.message.strip().splitlines() or ["no details"])[-1]
    return f"{where} could not be loaded ({last.strip()})"


async def check_all(exercises: list[Exercise], timeout: float | None) -> list[ExerciseCheck]:
    runner = Runner(timeout=timeout)
    gate = asyncio.Semaphore(PARALLEL_RUNS)
    try:
        return list(await asyncio.gather(*(check_exercise(runner, gate, e) for e in exercises)))
    finally:
        await runner.close()


def verify_pack(pack: Path | None, only: list[str], *, timeout: float | None) -> int:
    """Check a pack, print a row per exercise, return the exit code."""
    root = (pack or catalog_module.builtin_pack()).expanduser()
    catalog = catalog_module.load(root)
    for problem in catalog.problems:
        print(f"PROBLEM {problem}")
    exercises = catalog.exercises
    if only:
        picked = [catalog.find(key) for key in only]
        missing = [key for key, found in zip(only, picked, strict=True) if found is None]
        if missing:
            print(f"attn-tutor: no exercise {', '.join(missing)} in {root}")
            return 2
        exercises = [e for e in picked if e is not None]
    results = asyncio.run(check_all(exercises, timeout))
    print(f"{'exercise':<36} {'tests':>5} {'mutants':>8} {'suite':>7}  result")
    for result in results:
        total = len(result.exercise.mutants)
        name = f"{result.exercise.number:02d} {result.exercise.slug}"
        print(
            f"{name:<36} {result.tests:>5} {f'{result.caught}/{total}':>8} "
            f"{result.suite_seconds:>6.2f}s  {'ok' if result.ok else 'FAIL'}"
        )
        for line in result.problems:
            print(f"    {line}")
    good = all(r.ok for r in results) and not catalog.problems
    print(f"\n{sum(r.ok for r in results)} of {len(results)} exercises verified")
    print_strength(results)
    return 0 if good else 1


def print_strength(results: list[ExerciseCheck]) -> None:
    """The mutation score: generated mutants per exercise, what caught them, survivors."""
    print("\ntest strength: mutants made from each reference by the operators")
    print(f"{'exercise':<36} {'made':>5} {'tests':>6} {'compare':>8} {'survived':>9}")
    for result in results:
        name = f"{result.exercise.number:02d} {result.exercise.slug}"
        print(
            f"{name:<36} {len(result.generated):>5} {result.count(Caught.BY_TESTS):>6} "
            f"{result.count(Caught.BY_COMPARISON):>8} {result.count(Caught.SURVIVED):>9}"
        )
        for mutant, fate in result.generated:
            if fate is Caught.SURVIVED:
                print(f"    survived: {mutant.description}")
    made = sum(len(r.generated) for r in results)
    by_tests = sum(r.count(Caught.BY_TESTS) for r in results)
    by_comparison = sum(r.count(Caught.BY_COMPARISON) for r in results)
    if made:
        score = 100 * (by_tests + by_comparison) / made
        print(
            f"{'all':<36} {made:>5} {by_tests:>6} {by_comparison:>8} "
            f"{made - by_tests - by_comparison:>9}"
        )
        print(f"score: {score:.0f}% caught ({100 * by_tests / made:.0f}% by the tests alone)")
    for result in results:
        exercise = result.exercise
        if not result.ok:
            continue
        if not exercise.mutants:
            print(
                f"note: {exercise.number:02d} has no mutants of its own: add the mistakes "
                "learners make in mutants/ (see docs/EXERCISES.md)"
            )
        if exercise.solution is not None and not result.generated:
            print(f"note: {exercise.number:02d}: no operator applies to its solution.py")
