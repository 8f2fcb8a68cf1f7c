"""How small is the worked example? Every built-in mutant through the real worker.

Run with:  uv run python bench/examples.py

For each known mistake of the built-in curriculum, runs it as the learner's file and prints the
verdict, the example's first differing stage and the size it was shrunk to (sequences, tokens,
features), with the run's wall time. Ends with how many examples have at most three tokens.
"""

from __future__ import annotations

import asyncio
import time

from tutor.core.catalog import builtin_pack, load
from tutor.core.report import RunReport
from tutor.runner import Runner

SMALL = 3


def size(report: RunReport) -> tuple[int, int, int] | None:
    """(sequences, tokens, features) of the example's first input of two or more dimensions."""
    if report.example is None:
        return None
    for named in report.example.inputs:
        shape = named.numbers.shape
        if len(shape) >= 2:
            sequences = 1
            for n in shape[:-2]:
                sequences *= n
            return sequences, shape[-2], shape[-1]
    return None


async def main() -> None:
    runner = Runner(timeout=30)
    rows = []
    try:
        for exercise in load(builtin_pack()).exercises:
            for mutant in exercise.mutants:
                began = time.monotonic()
                report = RunReport()
                async for event in runner.run(exercise, mutant.path):
                    report.add(event)
                seconds = time.monotonic() - began
                verdict = report.finished.verdict.value if report.finished else "?"
                rows.append((exercise.key, mutant.path.name, verdict, report, seconds))
    finally:
        await runner.close()
    print(f"{'exercise':<32} {'mutant':<32} {'verdict':<10} {'first':<8} {'B T C':<9} {'s':>5}")
    small = found = 0
    for key, name, verdict, report, seconds in rows:
        shape = size(report)
        first = report.example.first_difference if report.example else "-"
        said = " ".join(str(n) for n in shape) if shape else "-"
        print(f"{key[:32]:<32} {name[:32]:<32} {verdict:<10} {first:<8} {said:<9} {seconds:5.2f}")
        if shape is not None:
            found += 1
            small += shape[1] <= SMALL
    print(f"\n{found} of {len(rows)} mistakes have an example; {small} at <= {SMALL} tokens")


if __name__ == "__main__":
    asyncio.run(main())
