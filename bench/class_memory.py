"""How much memory does each learner cost on a shared host? N real tutors, measured from /proc.

Run with:  uv run python bench/class_memory.py [--learners 3] [--ram 16G --ram 64G] [--json]

It opens N real `attn-tutor` apps, each in its own tmux pane of 80x24 with its own HOME (so its
own ~/attn-tutor workspace), waits until every one has its test worker warm and idle, then reads
/proc/PID/smaps_rollup of each app and each worker:

- PSS: the process's private pages plus its share of each page it shares with others;
- private (USS): pages no other process maps, the memory one more learner adds;
- RSS: every page it maps, shared ones counted whole.

The shared part is what the processes map but do not own, counted once: mostly the torch and
Python libraries read from disk. A host of R bytes holds (R - shared) / private-per-learner
learners. Then one tutor takes three saves of exercise 01's solution, and the largest private
size of the run's child is shown: a run adds that for its fraction of a second.

Every tutor is ended with `q`, as a learner would. --json writes
bench/results/class_memory_N.json.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

import psutil

from tutor.core import catalog
from tutor.core.catalog import builtin_pack

RESULTS = Path(__file__).parent / "results"
SOCKET = f"attn-class-{os.getpid()}"  # a tmux server of our own, ended at the end
WORKER_MARK = "tutor.worker.server"
READY_LIMIT = 240.0  # seconds for every tutor to warm up; N torch imports share two cores
IDLE_FOR = 2.0  # a worker is idle when its CPU time stays still this long
KB = 1024


@dataclass(frozen=True)
class Usage:
    """One process's memory, in KiB, from /proc/PID/smaps_rollup."""

    rss: int
    pss: int
    private: int
    anonymous: int

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.rss + other.rss,
            self.pss + other.pss,
            self.private + other.private,
            self.anonymous + other.anonymous,
        )


def read_usage(pid: int) -> Usage:
    fields: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        match = re.match(r"(\w+):\s+(\d+) kB", line)
        if match:
            fields[match[1]] = int(match[2])
    return Usage(
        rss=fields["Rss"],
        pss=fields["Pss"],
        private=fields["Private_Clean"] + fields["Private_Dirty"],
        anonymous=fields["Anonymous"],
    )


@dataclass
class Tutor:
    """One learner's tutor: its tmux session, its HOME, and its two processes once found."""

    name: str
    home: Path
    app: psutil.Process | None = None
    worker: psutil.Process | None = None


def tmux(*args: str) -> str:
    done = subprocess.run(["tmux", "-L", SOCKET, *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"tmux {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def tutor_command() -> list[str]:
    """The installed `attn-tutor` beside this Python, else the module."""
    script = Path(sys.executable).with_name("attn-tutor")
    return [str(script)] if script.exists() else [sys.executable, "-m", "tutor"]


def start(tutor: Tutor) -> None:
    tutor.home.mkdir()
    command = shlex.join(["env", f"HOME={tutor.home}", *tutor_command()])
    size = ("-x", "80", "-y", "24")
    tmux("new-session", "-d", "-s", tutor.name, *size, "-c", str(tutor.home), f"exec {command}")


def screen(tutor: Tutor) -> str:
    return tmux("capture-pane", "-p", "-t", tutor.name)


def find_processes(tutor: Tutor) -> None:
    """The app is the pane's process (the shell exec'd it); the worker is its child."""
    pane = psutil.Process(int(tmux("display-message", "-p", "-t", tutor.name, "#{pane_pid}")))
    tutor.app = pane
    workers = [p for p in pane.children() if WORKER_MARK in " ".join(p.cmdline())]
    tutor.worker = workers[0] if workers else None


def wait_until_ready(tutors: list[Tutor]) -> float:
    """Until every app shows a finished start-up run and every worker's CPU is still."""
    start_at = time.monotonic()
    waiting = list(tutors)
    while waiting:
        if time.monotonic() - start_at > READY_LIMIT:
            names = ", ".join(t.name for t in waiting)
            raise RuntimeError(f"not ready within {READY_LIMIT:g} s: {names}\n{screen(waiting[0])}")
        for tutor in list(waiting):
            # The status line reads "last run HH:MM:SS (…)" once the start-up run is judged.
            if "last run" not in screen(tutor):
                continue
            find_processes(tutor)
            if tutor.worker is not None:
                waiting.remove(tutor)
        time.sleep(0.5)
    workers = [t.worker for t in tutors if t.worker is not None]
    while True:  # idle: no worker burned CPU for IDLE_FOR seconds
        before = [sum(w.cpu_times()[:2]) for w in workers]
        time.sleep(IDLE_FOR)
        after = [sum(w.cpu_times()[:2]) for w in workers]
        if all(b - a < 0.02 for a, b in zip(before, after, strict=True)):
            return time.monotonic() - start_at
        if time.monotonic() - start_at > READY_LIMIT:
            raise RuntimeError("the workers did not go idle")


def measure_run(tutor: Tutor, saves: int = 3) -> Usage:
    """The largest a run's child grew, over ``saves`` saves of the solution in ``tutor``."""
    assert tutor.worker is not None
    exercise = next(e for e in catalog.load(builtin_pack()).exercises if e.number == 1)
    assert exercise.solution is not None
    problem = tutor.home / "attn-tutor" / exercise.key / "problem.py"
    peak = Usage(0, 0, 0, 0)
    for n in range(saves):
        problem.write_text(exercise.solution.read_text() + f"\n# save {n}\n")
        deadline = time.monotonic() + 30
        child: psutil.Process | None = None
        while child is None and time.monotonic() < deadline:
            children = tutor.worker.children()
            child = children[0] if children else None
            time.sleep(0.005)
        if child is None:
            raise RuntimeError("the save started no run")
        while True:  # sample until the child is gone
            try:
                usage = read_usage(child.pid)
            except (OSError, KeyError):
                break
            if usage.private > peak.private:
                peak = usage
        time.sleep(1.0)
    return peak


def end(tutors: list[Tutor]) -> list[str]:
    """Quit each tutor with `q`; returns what did not end by itself (then killed)."""
    family = [p for t in tutors for p in (t.app, t.worker) if p is not None]
    for tutor in tutors:
        with contextlib.suppress(RuntimeError):  # its session may be gone already
            tmux("send-keys", "-t", tutor.name, "q")
    _gone, alive = psutil.wait_procs(family, timeout=10)
    stuck = [f"{p.pid} {' '.join(p.cmdline())}" for p in alive]
    for process in alive:
        process.kill()
    subprocess.run(["tmux", "-L", SOCKET, "kill-server"], capture_output=True)
    return stuck


def mem_available() -> int:
    """The kernel's estimate of memory available for new work, in KiB."""
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1])
    raise RuntimeError("no MemAvailable in /proc/meminfo")


def parse_size(text: str) -> int:
    """'16G', '64GB', '512M' or a number of MiB, in KiB."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([GgMm])?[iI]?[bB]?\s*", text)
    if not match:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size; write it like 16G or 512M")
    scale = KB * KB if (match[2] or "M").upper() == "G" else KB
    return int(float(match[1]) * scale)


def mb(kib: float) -> float:
    return kib / KB


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--learners", type=int, default=3, help="tutors to open (default 3)")
    parser.add_argument(
        "--ram",
        type=parse_size,
        action="append",
        help="a host's memory, like 16G; may be repeated (default: this machine's MemAvailable)",
    )
    parser.add_argument(
        "--json", action="store_true", help="write bench/results/class_memory_N.json"
    )
    args = parser.parse_args()
    if args.learners < 1:
        parser.error("--learners must be at least 1")
    if shutil.which("tmux") is None:
        parser.error("tmux is needed (apt-get install tmux)")
    n = args.learners
    rams: list[int] = args.ram or [mem_available()]  # read before any tutor starts

    with tempfile.TemporaryDirectory(prefix="attn-class-") as folder:
        tutors = [Tutor(f"learner{i + 1}", Path(folder) / f"learner{i + 1}") for i in range(n)]
        for tutor in tutors:
            start(tutor)
        try:
            ready_s = wait_until_ready(tutors)
            rows = []
            cpu: list[float] = []  # seconds of CPU each tutor used to get ready
            for tutor in tutors:
                assert tutor.app is not None
                assert tutor.worker is not None
                rows.append((tutor, read_usage(tutor.app.pid), read_usage(tutor.worker.pid)))
                cpu.append(sum(tutor.app.cpu_times()[:2]) + sum(tutor.worker.cpu_times()[:2]))
            run_peak = measure_run(tutors[0])
        finally:
            stuck = end(tutors)

    total = sum((app + worker for _, app, worker in rows), Usage(0, 0, 0, 0))
    # What the tutors map but do not own, counted once: every app maps the same files, and
    # so does every worker. From RSS, not PSS, because PSS also splits these pages with any
    # other program on the host that maps the same files.
    shared = max(app.rss - app.private for _, app, _ in rows) + max(
        worker.rss - worker.private for _, _, worker in rows
    )
    private_each = total.private / n
    apps_private = sum(app.private for _, app, _ in rows) / n
    workers_private = sum(worker.private for _, _, worker in rows) / n
    fits = {ram: max(0, int((ram - shared) // private_each)) for ram in rams}

    print(f"{n} tutor(s) at 80x24, every worker warm and idle after {ready_s:.0f} s\n")
    print(f"{'learner':<10} {'process':<7} {'PSS':>8} {'private':>8} {'RSS':>8} {'anon':>8}  (MB)")
    for tutor, app, worker in rows:
        for label, usage in (("app", app), ("worker", worker), ("total", app + worker)):
            print(
                f"{tutor.name:<10} {label:<7} {mb(usage.pss):>8.0f} {mb(usage.private):>8.0f} "
                f"{mb(usage.rss):>8.0f} {mb(usage.anonymous):>8.0f}"
            )
    print(
        f"\nprivate per learner: {mb(private_each):.0f} MB "
        f"(app {mb(apps_private):.0f} MB, worker {mb(workers_private):.0f} MB)"
    )
    print(f"PSS per learner:     {mb(total.pss / n):.0f} MB")
    print(f"CPU to get ready:    {min(cpu):.1f} to {max(cpu):.1f} s per learner (app + worker)")
    print(f"shared, counted once: {mb(shared):.0f} MB (at most)")
    print(f"all {n} tutor(s), PSS:  {mb(total.pss):.0f} MB")
    print(
        f"a run's child, at its largest: {mb(run_peak.private):.0f} MB private "
        f"(for the length of the run)"
    )
    for ram, count in fits.items():
        print(f"learners that fit in {mb(ram) / KB:.1f} GB: {count}")
    for line in stuck:
        print(f"did not end by itself, killed: {line}")

    if args.json:
        RESULTS.mkdir(exist_ok=True)
        target = RESULTS / f"class_memory_{n}.json"
        summary = {
            "date": date.today().isoformat(),
            "machine": {
                "cpus": os.cpu_count(),
                "mem_total_mb": round(mb(psutil.virtual_memory().total / KB)),
                "python": sys.version.split()[0],
            },
            "learners": n,
            "ready_s": ready_s,
            "cpu_to_ready_s": cpu,
            "per_learner_kib": [
                {"app": asdict(app), "worker": asdict(worker)} for _, app, worker in rows
            ],
            "private_per_learner_mb": mb(private_each),
            "pss_per_learner_mb": mb(total.pss / n),
            "shared_mb": mb(shared),
            "run_child_peak_kib": asdict(run_peak),
            "fits": {f"{mb(ram) / KB:.1f}G": count for ram, count in fits.items()},
            "did_not_end": stuck,
        }
        target.write_text(json.dumps(summary, indent=2) + "\n")
        print(f"\nwritten to {target}")


if __name__ == "__main__":
    main()
