"""The fault suite, part two: a hostile environment around the app.

The learner's file vanishing or turning into something else, a disk that refuses the
progress file, two tutors on one workspace, a terminal squeezed to 40x12, and the
worker killed from outside. Signals and minimal terminals are in test_faults_terminal.
"""

from __future__ import annotations

import asyncio
import errno
import json
import os
import shutil
import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from tests.builders import report_of
from tests.conftest import BASICS, WILD_PACK
from tests.live_app import KEY_LIMIT, LiveApp, living
from tests.scripted import ScriptedRunner, by_content, failing
from tests.ui_support import make_app, settle, until
from tutor.core import progress as progress_module
from tutor.ui.app import TutorApp

pytestmark = pytest.mark.fault

LIMIT = 3.0
SOLUTION = (BASICS / "solution.py").read_text()


def notices(app: TutorApp) -> str:
    return "\n".join(n.message for n in app._notifications)


def stored(workspace: Path) -> dict[str, object]:
    data = json.loads((workspace / ".attn-tutor" / "progress.json").read_text())
    assert isinstance(data, dict)
    return data


# ----- the learner's file goes away or turns into something else


def delete(problem: Path) -> None:
    problem.unlink()


def rename(problem: Path) -> None:
    problem.rename(problem.with_name("problem-old.py"))


def make_folder(problem: Path) -> None:
    problem.unlink()
    problem.mkdir()


def symlink_loop(problem: Path) -> None:
    problem.unlink()
    problem.symlink_to(problem)  # reading it fails with "too many levels of symbolic links"


def make_pipe(problem: Path) -> None:
    problem.unlink()
    os.mkfifo(problem)  # reading it would block for ever


def put_back(problem: Path) -> None:
    old = problem.with_name("problem-old.py")
    if problem.is_dir() and not problem.is_symlink():
        problem.rmdir()
    elif problem.is_symlink() or problem.exists():
        problem.unlink()
    if old.exists():
        old.rename(problem)
    else:
        temporary = problem.with_name(".problem.py.saving")
        temporary.write_text(SOLUTION)
        temporary.replace(problem)


CHANGES: dict[str, tuple[Callable[[Path], None], str]] = {
    "deleted": (delete, "is missing; save it again"),
    "renamed": (rename, "is missing; save it again"),
    "replaced by a folder": (make_folder, "is a folder"),
    "unreadable (a symlink loop)": (symlink_loop, "cannot be read (Too many levels"),
    "a pipe instead of a file": (make_pipe, "is not a plain file"),
}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    app = LiveApp(tmp_path_factory.mktemp("env") / "ws", timeout=LIMIT)
    yield app
    app.close()


@pytest.mark.slow
@pytest.mark.parametrize("change", list(CHANGES))
def test_a_vanished_file_is_named_and_the_run_resumes_when_it_is_back(
    live: LiveApp, change: str
) -> None:
    live.save(SOLUTION + f"# save {live.saves}\n", limit=LIMIT + 30)
    action, says = CHANGES[change]
    outcome = live.act(lambda: action(live.problem), limit=LIMIT + 30)
    assert outcome.verdict == "missing file", outcome.text
    assert says in outcome.text
    assert outcome.attempts_added == 0  # nothing to test is not an attempt
    assert outcome.leftovers == []
    assert outcome.key_seconds < KEY_LIMIT
    assert outcome.seconds < LIMIT + 1.0
    assert live.app.is_running

    back = live.act(lambda: put_back(live.problem), limit=LIMIT + 30)
    assert back.verdict == "passed", back.text
    assert live.problem.read_text().startswith(SOLUTION)


@pytest.mark.slow
def test_a_worker_killed_mid_run_is_reported_and_replaced(live: LiveApp) -> None:
    endless = SOLUTION + "\nwhile True:\n    pass\n"
    worker = live.worker

    def save_then_kill() -> None:
        live.write(endless)

    family: list[psutil.Process] = []
    folders: list[Path] = []  # the run's private folder, which holds a copy of the file

    async def kill_when_running() -> None:
        await live.until(lambda: live.app.session.running is not None, LIMIT)
        await asyncio.sleep(0.3)
        family.extend(worker.children(recursive=True))
        # A run works in run-…/<pack>/<exercise>/.
        folders.extend(Path(p.cwd()).parent.parent for p in family)
        worker.send_signal(signal.SIGKILL)

    task = live.loop.create_task(kill_when_running())
    outcome = live.act(save_then_kill, limit=LIMIT + 30)
    live.loop.run_until_complete(task)
    assert family  # the run's process existed when the worker was killed
    _, alive = psutil.wait_procs(family, timeout=1.0)
    assert living(alive) == []  # and went with the worker within a second (it dies with it)
    assert outcome.verdict == "interrupted", outcome.text
    assert "the test worker stopped" in outcome.text
    assert outcome.attempts_added == 0

    after = live.save(SOLUTION + "# after the worker was killed\n", limit=120)
    assert after.verdict == "passed", after.text
    assert "started a new one" in after.text
    assert live.worker.pid != worker.pid
    assert folders
    assert all(folder.name.startswith("run-") for folder in folders)
    assert not any(folder.exists() for folder in folders), "the killed run's folder is left"


# ----- the disk refuses the progress file


def test_a_full_disk_loses_nothing(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"

    async def scenario() -> None:
        app = make_app(WILD_PACK, workspace, ScriptedRunner(by_content), watch=False)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            before = (workspace / ".attn-tutor" / "progress.json").read_bytes()
            # The next write of progress goes to a file on which every write fails with ENOSPC:
            # the kernel's own "No space left on device", not a simulation of it.
            temporary = workspace / ".attn-tutor" / f".progress.json.{os.getpid()}.tmp"
            temporary.symlink_to("/dev/full")
            await pilot.press("r")  # a run is progress to save
            await settle(pilot)
            assert "could not save progress" in notices(app)
            assert "No space left on device" in notices(app)
            assert (workspace / ".attn-tutor" / "progress.json").read_bytes() == before
            assert app.is_running

            # Space again: the next save writes everything, the refused run included.
            problem = workspace / "01-plain-import" / "problem.py"
            problem.write_text("def add(a, b):\n    return a + b\n")
            await pilot.press("r")
            await settle(pilot)
        record = stored(workspace)["exercises"]
        assert isinstance(record, dict)
        entry = record["01-plain-import"]
        assert entry["first_solved"]
        assert entry["attempts"] == 3  # the start-up run, the refused one, the solving one

    asyncio.run(scenario())


def test_a_read_only_workspace_keeps_the_tutor_going(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    workspace = tmp_path / "ws"

    def refuse(target: Path, data: bytes) -> None:
        # Root ignores file modes, so the refusal a read-only mount gives is made here.
        raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(target))

    async def scenario() -> None:
        app = make_app(WILD_PACK, workspace, ScriptedRunner(by_content))
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            before = (workspace / ".attn-tutor" / "progress.json").read_bytes()
            problem = workspace / "01-plain-import" / "problem.py"
            problem.write_text("def add(a, b):\n    return a + b\n")
            monkeypatch.setattr(progress_module, "replace_atomically", refuse)
            await pilot.press("r")
            await settle(pilot)
            assert "could not save progress" in notices(app)
            assert "Read-only file system" in notices(app)
            assert "your code is safe" in notices(app)
            assert app.is_running
            assert (workspace / ".attn-tutor" / "progress.json").read_bytes() == before
            assert problem.read_text() == "def add(a, b):\n    return a + b\n"
            monkeypatch.undo()
            await pilot.press("q")
        record = stored(workspace)["exercises"]
        assert isinstance(record, dict)
        assert record["01-plain-import"]["first_solved"]  # saved once the disk allowed

    asyncio.run(scenario())


# ----- two tutors on one workspace


def test_two_tutors_on_one_workspace_both_keep_their_progress(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    one = workspace / "01-plain-import" / "problem.py"

    async def scenario() -> None:
        first = make_app(WILD_PACK, workspace, ScriptedRunner(by_content), watch=False)
        second = make_app(WILD_PACK, workspace, ScriptedRunner(failing), watch=False)
        async with first.run_test(size=(120, 40)) as pilot_one:
            await settle(pilot_one)
            async with second.run_test(size=(120, 40)) as pilot_two:
                await settle(pilot_two)
                assert "Another attn-tutor" in notices(second)
                assert "Another attn-tutor" not in notices(first)
                one.write_text("def add(a, b):\n    return a + b\n")
                await pilot_one.press("r")  # the first solves exercise 1
                await settle(pilot_one)
                await pilot_two.press("n")  # the second opens exercise 2, which runs it
                await settle(pilot_two)
                for _ in range(2):
                    await pilot_two.press("r")
                    await settle(pilot_two)
                await pilot_one.press("r")
                await settle(pilot_one)
        record = stored(workspace)["exercises"]
        assert isinstance(record, dict)
        assert record["01-plain-import"]["first_solved"]
        # Runs: the first's start-up run, its two r presses, and the second's start-up run.
        assert record["01-plain-import"]["attempts"] == 4
        assert record["02-relative-import"]["status"] == "failing"
        assert record["02-relative-import"]["attempts"] == 3  # opened with n, then r twice

    asyncio.run(scenario())


def test_merging_adds_each_tutors_own_attempts(tmp_path: Path) -> None:
    path = tmp_path / "progress.json"
    first, second = progress_module.load(path), progress_module.load(path)
    first.record("02", report_of(False))
    first.record("02", report_of(True))
    first.see_hint("02", "softmax-axis")
    first.save()
    second.record("02", report_of(False))
    second.see_hint("02", "transpose")
    second.record("03", report_of(False))
    second.save()
    first.record("02", report_of(True))
    first.save()
    final = progress_module.load(path)
    entry = final.of("02")
    assert entry.attempts == 4
    assert entry.first_solved is not None
    assert entry.solved
    assert entry.status == "passing"
    assert entry.hints_seen == ["softmax-axis", "transpose"]
    assert final.of("03").attempts == 1


# ----- a terminal squeezed small


def test_a_terminal_squeezed_to_40x12_says_what_it_needs_and_recovers(tmp_path: Path) -> None:
    async def scenario() -> None:
        app = make_app(WILD_PACK, tmp_path / "ws", ScriptedRunner(failing))
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            await pilot.resize_terminal(40, 12)
            await settle(pilot)
            message = app.main.query_one("#too-small")
            assert message.display
            assert not app.main.query_one("#main").display
            assert "at least 60x15" in str(message.render())
            assert "this one is 40x12" in str(message.render())
            await pilot.press("r")  # keys still work while it is small
            await settle(pilot)
            await pilot.resize_terminal(120, 40)
            await settle(pilot)
            assert not message.display
            assert app.main.query_one("#main").display
            await pilot.press("n")
            await until(pilot, lambda: app.exercise.key == "02-relative-import")
            await pilot.resize_terminal(80, 24)
            await settle(pilot)
            assert app.main.query_one("#main").display

    asyncio.run(scenario())


def test_the_pipe_guard_keeps_the_app_from_blocking(tmp_path: Path) -> None:
    # The app hashes the file on every save: a pipe must not block that read.
    from tutor.session import digest

    pipe = tmp_path / "problem.py"
    os.mkfifo(pipe)
    assert digest(pipe) is None
    shutil.rmtree(tmp_path / "absent", ignore_errors=True)
    assert digest(tmp_path / "absent" / "problem.py") is None
