"""How fast is feedback? Save-to-verdict through the real app, against a cold pytest.

Run with:  uv run python bench/feedback.py [--saves 30] [--soak 200]

Prints a table and writes bench/results/feedback.json. Every figure is measured here, on this
machine, in this run:

- save-to-verdict latency (p50, p95): from the moment problem.py is replaced in the workspace
  to the moment the run's final event reaches the app, through the real watcher, debounce,
  runner and warm worker, for exercise 02 and for the slowest exercise;
- a cold `python -m pytest` of the same suites, and the ratio;
- the app's time from process start to first paint, and its RSS once idle (in a pseudo-terminal);
- the worker's and the app's RSS after --soak saves against after 10 (growth).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import pty
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
from textual.pilot import Pilot

from tutor.core.catalog import Exercise, builtin_pack
from tutor.core.course import Course, open_course
from tutor.session import RunJudged, Update
from tutor.ui.app import TutorApp

RESULTS = Path(__file__).parent / "results"


class TimedApp(TutorApp):
    """The real app, noting when each run's verdict reaches it (before it is drawn)."""

    def __init__(self, course: Course) -> None:
        super().__init__(course)
        self.finished_at: dict[str, float] = {}
        self.session.listeners.insert(0, self.note)

    def note(self, update: Update) -> None:
        if isinstance(update, RunJudged):
            self.finished_at[update.exercise.key] = time.perf_counter()


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def rss_mb(pid: int) -> float:
    return float(psutil.Process(pid).memory_info().rss) / 2**20


def cold_pytest(exercise: Exercise, repeats: int = 3) -> float:
    """Median wall time of a cold `python -m pytest` of the suite on the solution."""
    times = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as folder:
            # The exercise's files as a run has them (data files too), the solution as problem.py.
            for part in sorted(exercise.path.iterdir()):
                if part.is_file() and part.name not in ("problem.py", "README.md"):
                    shutil.copy(part, folder)
            assert exercise.solution is not None
            shutil.copy(exercise.solution, Path(folder) / "problem.py")
            start = time.perf_counter()
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "pytest",
                    "-q",
                    "-p",
                    "no:cacheprovider",
                    "-c",
                    os.devnull,
                    "--rootdir",
                    folder,
                    folder,
                ],
                capture_output=True,
                cwd=folder,
            )
            times.append(time.perf_counter() - start)
            assert done.returncode == 0, done.stdout.decode()[-2000:]
    return statistics.median(times)


async def save_and_wait(app: TimedApp, course: Course, exercise: Exercise, n: int) -> float:
    """Replace the learner's file with the solution plus a new comment; seconds to the verdict."""
    assert exercise.solution is not None
    source = exercise.solution.read_text() + f"\n# save {n}\n"
    problem = course.problem(exercise)
    temporary = problem.with_name(".problem.py.bench")
    temporary.write_text(source)
    app.finished_at.pop(exercise.key, None)
    start = time.perf_counter()
    os.replace(temporary, problem)
    while exercise.key not in app.finished_at:
        await asyncio.sleep(0.002)
        if time.perf_counter() - start > 30:
            raise RuntimeError(f"no verdict for {exercise.key} within 30 s")
    report = app.session.reports[exercise.key]
    assert report.passed, report.headline()
    return app.finished_at[exercise.key] - start


async def open_exercise(app: TimedApp, pilot: Pilot[int], exercise: Exercise) -> None:
    app.session.open(exercise, run=False)
    await pilot.pause()  # the lesson is drawn


async def in_app(saves: int, soak: int) -> dict[str, object]:
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as folder:
        course = open_course(None, Path(folder) / "ws")
        basics = course.catalog.find("2")
        assert basics is not None
        course.progress.current = basics.key
        app = TimedApp(course)
        async with app.run_test(size=(120, 40)) as pilot:
            await app.session.runner.wait_ready()
            await asyncio.sleep(1.0)  # the watcher's self-check, the first run
            await pilot.pause()
            # The slowest exercise, by one run of each solution.
            single = {}
            for exercise in course.catalog.exercises:
                await open_exercise(app, pilot, exercise)
                single[exercise.key] = await save_and_wait(app, course, exercise, 0)
            slowest = course.catalog.find(max(single, key=lambda k: single[k]))
            assert slowest is not None
            for exercise in (basics, slowest):
                await open_exercise(app, pilot, exercise)
                latencies = [
                    await save_and_wait(app, course, exercise, n) for n in range(1, saves + 1)
                ]
                results[exercise.key] = {"latencies": latencies}
            await open_exercise(app, pilot, basics)
            assert app.session.runner.process is not None
            worker = app.session.runner.process.pid
            memory = {}
            for n in range(1, soak + 1):
                await save_and_wait(app, course, basics, 1000 + n)
                if n == 10 or n == soak:
                    await asyncio.sleep(0.5)
                    memory[n] = {"worker_mb": rss_mb(worker), "app_mb": rss_mb(os.getpid())}
            results["memory"] = memory
            results["single_runs"] = single
            results["slowest"] = slowest.key
    return results


def first_paint(command: list[str], env: dict[str, str]) -> tuple[float, float]:
    """Seconds from spawn to the lesson on screen, and the app's RSS once idle, in a pty."""
    main, secondary = pty.openpty()
    os.set_blocking(main, False)
    start = time.perf_counter()
    process = subprocess.Popen(
        command, stdin=secondary, stdout=secondary, stderr=secondary, env=env, close_fds=True
    )
    os.close(secondary)
    seen = b""
    painted = None
    try:
        while time.perf_counter() - start < 30:
            ready, _, _ = select.select([main], [], [], 0.01)
            if ready:
                try:
                    seen += os.read(main, 65536)
                except OSError:
                    break
                if b"Lesson" in seen and painted is None:
                    painted = time.perf_counter() - start
                    break
        deadline = time.perf_counter() + 4.0
        while time.perf_counter() < deadline:  # idle: keep draining the terminal
            if select.select([main], [], [], 0.05)[0]:
                try:
                    os.read(main, 65536)
                except OSError:
                    break
        idle_mb = rss_mb(process.pid)
    finally:
        process.terminate()
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
        os.close(main)
    if painted is None:
        raise RuntimeError("the app did not paint within 30 s")
    return painted, idle_mb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--saves", type=int, default=30)
    parser.add_argument("--soak", type=int, default=200)
    args = parser.parse_args()

    pack = builtin_pack()
    with tempfile.TemporaryDirectory() as folder:
        env = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "120", "LINES": "40"}
        command = [sys.executable, "-m", "tutor", "--workspace", str(Path(folder) / "ws")]
        subprocess.run([*command, "list"], capture_output=True, env=env)  # first use done
        paints = [first_paint(command, env) for _ in range(3)]
    paint = statistics.median(p for p, _ in paints)
    app_idle_mb = statistics.median(m for _, m in paints)

    measured = asyncio.run(in_app(args.saves, args.soak))
    from tutor.core import catalog

    exercises = {e.key: e for e in catalog.load(pack).exercises}
    rows = []
    for key in ("02-attention-basics", str(measured["slowest"])):
        latencies = measured[key]["latencies"]  # type: ignore[index]
        cold = cold_pytest(exercises[key])
        p50, p95 = percentile(latencies, 0.5), percentile(latencies, 0.95)
        rows.append(
            {
                "exercise": key,
                "saves": len(latencies),
                "p50_s": p50,
                "p95_s": p95,
                "cold_pytest_s": cold,
                "speedup_p50": cold / p50,
            }
        )
    memory = measured["memory"]
    first, last = memory[10], memory[args.soak]  # type: ignore[index]
    summary = {
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        "latency": rows,
        "first_paint_s": paint,
        "app_idle_rss_mb": app_idle_mb,
        "memory_after_10": first,
        f"memory_after_{args.soak}": last,
        "worker_growth_mb": last["worker_mb"] - first["worker_mb"],
        "app_growth_mb": last["app_mb"] - first["app_mb"],
        "single_runs_s": measured["single_runs"],
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "feedback.json").write_text(json.dumps(summary, indent=2) + "\n")

    print(
        f"{'exercise':<30} {'saves':>5} {'p50':>7} {'p95':>7} {'cold pytest':>12} {'speed-up':>9}"
    )
    for row in rows:
        print(
            f"{row['exercise']:<30} {row['saves']:>5} {row['p50_s']:>6.3f}s {row['p95_s']:>6.3f}s "
            f"{row['cold_pytest_s']:>11.2f}s {row['speedup_p50']:>8.1f}x"
        )
    print(f"\nfirst paint (spawn to lesson on screen): {paint:.2f} s")
    print(f"app RSS once idle:                       {app_idle_mb:.0f} MB")
    print(
        f"worker RSS after 10 / {args.soak} saves:           "
        f"{first['worker_mb']:.0f} / {last['worker_mb']:.0f} MB"
    )
    print(
        f"app RSS after 10 / {args.soak} saves (headless):   "
        f"{first['app_mb']:.0f} / {last['app_mb']:.0f} MB"
    )
    print(f"\nwritten to {RESULTS / 'feedback.json'}")


if __name__ == "__main__":
    main()
