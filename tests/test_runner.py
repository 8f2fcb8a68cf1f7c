"""The runner against real pytest in a real worker, with honest and hostile learner files."""

from __future__ import annotations

import asyncio
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from tests.conftest import BASICS, WILD_PACK, LiveRunner
from tutor.core.protocol import RunFinished, Verdict
from tutor.runner import Runner, exercise_at

pytestmark = pytest.mark.slow

LIMIT = 4.0  # the live_runner's time limit


def learner(tmp_path: Path, forward: str, top: str = "") -> Path:
    """A SimpleAttention whose forward body (and module top) the test chooses."""
    source = textwrap.dedent(
        """\
        import torch
        from torch import nn
        {top}

        class SimpleAttention(nn.Module):
            def __init__(self, n_embd: int = 768) -> None:
                super().__init__()
                self.query = nn.Linear(n_embd, n_embd)
                self.key = nn.Linear(n_embd, n_embd)
                self.value = nn.Linear(n_embd, n_embd)

            def forward(self, x):
        {forward}
        """
    ).format(top=textwrap.dedent(top), forward=textwrap.indent(textwrap.dedent(forward), " " * 8))
    path = tmp_path / "problem.py"
    path.write_text(source)
    return path


def no_children_left(live: LiveRunner) -> None:
    """Every process a run started is gone shortly after its verdict."""
    process = live.runner.process
    assert process is not None
    worker = psutil.Process(process.pid)
    deadline = time.monotonic() + 1.0
    while worker.children(recursive=True) and time.monotonic() < deadline:
        time.sleep(0.05)
    left = [p.cmdline() for p in worker.children(recursive=True)]
    assert not left, f"processes left behind: {left}"


def timed(live: LiveRunner, problem: Path) -> tuple[float, Verdict, str]:
    start = time.monotonic()
    report = live.run(BASICS, problem)
    elapsed = time.monotonic() - start
    assert report.finished is not None
    no_children_left(live)
    return elapsed, report.finished.verdict, report.headline()


def test_solution_passes(live_runner: LiveRunner) -> None:
    report = live_runner.run(BASICS, BASICS / "solution.py")
    assert report.finished is not None
    assert report.finished.verdict is Verdict.PASSED, report.headline()
    assert report.finished.passed == report.finished.total == len(report.outcomes) > 5


def test_skeleton_fails_as_not_implemented(live_runner: LiveRunner) -> None:
    report = live_runner.run(BASICS, BASICS / "problem.py")
    assert report.finished is not None
    assert report.finished.verdict is Verdict.FAILED
    assert report.not_implemented
    assert report.headline().startswith("not implemented yet")
    assert all(o.line is not None for o in report.outcomes), "each failure points at a line"


def test_mutant_failure_names_the_mistake(live_runner: LiveRunner) -> None:
    report = live_runner.run(BASICS, BASICS / "mutants" / "softmax_over_queries.py")
    assert report.finished is not None
    assert report.finished.verdict is Verdict.FAILED
    messages = " ".join(o.message for o in report.outcomes)
    assert "dim=-2" in messages
    assert "test_weights_sum_to_one_over_the_keys" in report.failing_tests


def test_endless_loop_times_out(live_runner: LiveRunner, tmp_path: Path) -> None:
    elapsed, verdict, headline = timed(live_runner, learner(tmp_path, "while True:\n    pass"))
    assert verdict is Verdict.TIMED_OUT, headline
    assert elapsed < LIMIT + 1.0


def test_endless_sleep_times_out(live_runner: LiveRunner, tmp_path: Path) -> None:
    problem = learner(tmp_path, "return x", top="import time\ntime.sleep(1e9)")
    elapsed, verdict, _ = timed(live_runner, problem)
    assert verdict is Verdict.TIMED_OUT
    assert elapsed < LIMIT + 1.0


def test_os_exit_at_import_is_not_a_pass(live_runner: LiveRunner, tmp_path: Path) -> None:
    problem = learner(tmp_path, "return x", top="import os\nos._exit(0)")
    _, verdict, headline = timed(live_runner, problem)
    assert verdict is Verdict.EXITED_EARLY, headline


def test_os_exit_in_forward_is_not_a_pass(live_runner: LiveRunner, tmp_path: Path) -> None:
    problem = learner(tmp_path, "import os\nos._exit(0)")
    _, verdict, headline = timed(live_runner, problem)
    assert verdict is Verdict.EXITED_EARLY, headline


def test_sys_exit_in_forward_fails_the_tests(live_runner: LiveRunner, tmp_path: Path) -> None:
    report = live_runner.run(BASICS, learner(tmp_path, "import sys\nsys.exit(0)"))
    assert report.finished is not None
    assert report.finished.verdict is Verdict.FAILED
    assert any("sys.exit(0)" in o.message for o in report.outcomes)


def test_sys_exit_at_import_exits_early(live_runner: LiveRunner, tmp_path: Path) -> None:
    problem = learner(tmp_path, "return x", top="import sys\nsys.exit(0)")
    _, verdict, headline = timed(live_runner, problem)
    assert verdict is Verdict.EXITED_EARLY
    assert "sys.exit" in headline


def test_segfault_is_a_crash(live_runner: LiveRunner, tmp_path: Path) -> None:
    problem = learner(tmp_path, "import ctypes\nctypes.string_at(0)")
    _, verdict, headline = timed(live_runner, problem)
    assert verdict is Verdict.CRASHED
    assert "SIGSEGV" in headline


def test_syntax_error_points_at_the_line(live_runner: LiveRunner, tmp_path: Path) -> None:
    problem = tmp_path / "problem.py"
    problem.write_text("import torch\n\ndef broken(:\n    pass\n")
    report = live_runner.run(BASICS, problem)
    assert report.finished is not None
    assert report.finished.verdict is Verdict.ERROR
    assert report.errors
    assert report.errors[0].line == 3
    assert "SyntaxError" in report.errors[0].message


def test_ten_megabytes_of_prints(live_runner: LiveRunner, tmp_path: Path) -> None:
    problem = learner(tmp_path, "print('x' * 1_000_000)\nreturn x", top="print('y' * 1_000_000)")
    elapsed, verdict, _ = timed(live_runner, problem)
    assert verdict is Verdict.FAILED  # returns x: wrong values, but an honest verdict
    assert elapsed < LIMIT + 1.0


def test_printed_output_is_capped(live_runner: LiveRunner, tmp_path: Path) -> None:
    problem = learner(tmp_path, "return x", top="print('z' * 10_000_000)")
    report = live_runner.run(BASICS, problem)
    assert report.finished is not None
    assert len(report.finished.output) < 70_000
    assert "bytes cut" in report.finished.output


def test_input_does_not_hang(live_runner: LiveRunner, tmp_path: Path) -> None:
    elapsed, verdict, _ = timed(live_runner, learner(tmp_path, "input('? ')\nreturn x"))
    assert verdict is Verdict.FAILED
    assert elapsed < LIMIT


def test_huge_allocation_is_stopped_by_the_memory_limit(
    live_runner: LiveRunner, tmp_path: Path
) -> None:
    problem = learner(tmp_path, "big = torch.ones(50 * 1024**3 // 4)\nreturn x")
    elapsed, verdict, headline = timed(live_runner, problem)
    assert verdict is Verdict.OUT_OF_MEMORY, headline
    assert elapsed < LIMIT


def test_missing_file_is_reported(live_runner: LiveRunner, tmp_path: Path) -> None:
    report = live_runner.run(BASICS, tmp_path / "nowhere.py")
    assert report.finished is not None
    assert report.finished.verdict is Verdict.MISSING


def test_folder_instead_of_file_is_reported(live_runner: LiveRunner, tmp_path: Path) -> None:
    folder = tmp_path / "problem.py"
    folder.mkdir()
    report = live_runner.run(BASICS, folder)
    assert report.finished is not None
    assert report.finished.verdict is Verdict.MISSING
    assert "folder" in report.finished.message


def test_next_run_is_normal_after_a_crash(live_runner: LiveRunner, tmp_path: Path) -> None:
    timed(live_runner, learner(tmp_path, "import ctypes\nctypes.string_at(0)"))
    report = live_runner.run(BASICS, BASICS / "solution.py")
    assert report.finished is not None
    assert report.finished.verdict is Verdict.PASSED


@pytest.mark.parametrize(
    ("exercise", "expected"),
    [("01-plain-import", 2), ("02-relative-import", 1), ("03-solution-import", 1)],
)
def test_wild_import_styles_test_the_learner_file(
    live_runner: LiveRunner, exercise: str, expected: int
) -> None:
    folder = WILD_PACK / exercise
    skeleton = live_runner.run(folder, folder / "problem.py")
    assert skeleton.finished is not None
    assert skeleton.finished.verdict is Verdict.FAILED
    solved = live_runner.run(folder, folder / "solution.py")
    assert solved.finished is not None
    assert solved.finished.verdict is Verdict.PASSED
    assert solved.finished.passed == expected


def test_edited_workspace_tests_are_ignored(live_runner: LiveRunner, tmp_path: Path) -> None:
    # Only the pristine suite counts: a test file beside the learner's file is never used.
    (tmp_path / "test_attention_basics.py").write_text("def test_nothing():\n    pass\n")
    report = live_runner.run(BASICS, learner(tmp_path, "return x"))
    assert report.finished is not None
    assert report.finished.verdict is Verdict.FAILED


def test_a_killed_worker_is_replaced_on_the_next_run(live_runner: LiveRunner) -> None:
    process = live_runner.runner.process
    assert process is not None
    psutil.Process(process.pid).kill()
    live_runner.loop.run_until_complete(process.wait())
    report = live_runner.run(BASICS, BASICS / "solution.py")
    assert report.notices == ["the test worker had stopped; started a new one"]
    assert report.finished is not None
    assert report.finished.verdict is Verdict.PASSED


def test_without_fork_each_run_is_a_cold_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ATTN_TUTOR_NO_FORK", "1")
    cold = LiveRunner(timeout=30.0)
    try:
        passed = cold.run(BASICS, BASICS / "solution.py")
        assert passed.finished is not None
        assert passed.finished.verdict is Verdict.PASSED
        assert not cold.runner.uses_fork
        exited = cold.run(BASICS, learner(tmp_path, "return x", top="import os\nos._exit(0)"))
        assert exited.finished is not None
        assert exited.finished.verdict is Verdict.EXITED_EARLY
    finally:
        cold.close()


def test_a_probe_that_hangs_keeps_the_test_verdict(live_runner: LiveRunner, tmp_path: Path) -> None:
    # Correct everywhere except on the picture's example input (1, 6, 8), where it never returns.
    forward = """\
        if tuple(x.shape) == (1, 6, 8):
            while True:
                pass
        q, k, v = self.query(x), self.key(x), self.value(x)
        return torch.softmax(q @ k.transpose(-2, -1), dim=-1) @ v
        """
    live_runner.loop.run_until_complete(live_runner.runner.wait_ready())
    start = time.monotonic()
    report = live_runner.run(BASICS, learner(tmp_path, forward))
    assert report.finished is not None
    assert report.finished.verdict is Verdict.PASSED, report.headline()
    assert report.probe is None  # the picture was given up, not the verdict
    assert time.monotonic() - start < 3.5  # the tests, then at most 2 s for the picture
    no_children_left(live_runner)


def test_a_worker_that_dies_while_starting_is_said_at_once(tmp_path: Path) -> None:
    """The run ends as soon as the worker does, not after the 120 s start-up limit."""

    async def scenario() -> RunFinished:
        runner = Runner(log=tmp_path / "worker.log")
        runner.worker = ("-c", "raise SystemExit(3)")
        try:
            events = [e async for e in runner.run(exercise_at(BASICS), BASICS / "solution.py")]
        finally:
            await runner.close()
        assert isinstance(events[-1], RunFinished)
        return events[-1]

    started = time.monotonic()
    finished = asyncio.run(scenario())
    assert time.monotonic() - started < 10
    assert finished.verdict is Verdict.INTERRUPTED
    assert "stopped while starting (exit code 3)" in finished.message
    assert str(tmp_path / "worker.log") in finished.message


@pytest.mark.parametrize("no_fork", [False, True], ids=["fork", "no-fork"])
def test_modules_planted_where_python_looks_first_are_never_imported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_fork: bool
) -> None:
    """Started from a folder where someone left torch.py, pytest.py and tutor.py, with
    PYTHONPATH naming another such folder, the worker and its test process use the real ones."""
    marker = tmp_path / "planted-code-ran"
    for folder in ("cwd", "on-pythonpath"):
        planted = tmp_path / folder
        planted.mkdir()
        for module in ("torch", "pytest", "tutor"):
            (planted / f"{module}.py").write_text(
                f"open({str(marker)!r}, 'a').write('{folder}/{module}.py ran\\n')\n"
            )
    monkeypatch.chdir(tmp_path / "cwd")
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "on-pythonpath"))
    if no_fork:
        monkeypatch.setenv("ATTN_TUTOR_NO_FORK", "1")

    async def scenario() -> RunFinished:
        runner = Runner()
        try:
            events = [e async for e in runner.run(exercise_at(BASICS), BASICS / "solution.py")]
        finally:
            await runner.close()
        finished = [e for e in events if isinstance(e, RunFinished)]
        return finished[0]

    finished = asyncio.run(scenario())
    assert not marker.exists(), marker.read_text()
    assert finished.verdict is Verdict.PASSED, finished.message


def test_closing_while_the_worker_warms_up_ends_it_at_once() -> None:
    """Quitting right after start: the worker, still importing torch, does not make the
    tutor wait for it to be warm."""

    async def scenario() -> tuple[float, int | None]:
        runner = Runner()
        await runner.start()
        process = runner.process
        assert process is not None
        await asyncio.sleep(0.3)
        assert not runner.ready.is_set(), "the worker was ready already: nothing to measure"
        started = time.monotonic()
        await runner.close()
        return time.monotonic() - started, process.returncode

    seconds, returncode = asyncio.run(scenario())
    assert returncode is not None
    assert seconds < 1.0
