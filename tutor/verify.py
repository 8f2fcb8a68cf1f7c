"""``attn-tutor verify``: the authoring self-check of an exercise pack.

For every exercise: the solution passes, the skeleton fails cleanly (a verdict, not a
crash or a timeout), every mutant is caught by at least one test, and the metadata
(lesson, hints linked to real tests) holds. One row per exercise; exit 0 only if all do.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from tutor.core import catalog as catalog_module
from tutor.core.catalog import Exercise
from tutor.core.protocol import CollectionError
from tutor.core.report import RunReport
from tutor.runner import Runner

PARALLEL_RUNS = 2


@dataclass
class ExerciseCheck:
    """What verify found for one exercise."""

    exercise: Exercise
    tests: int = 0
    suite_seconds: float = 0.0
    caught: int = 0
    problems: list[str] = field(default_factory=list)

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
    return result


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
    return 0 if good else 1
