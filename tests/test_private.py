"""The workspace is the learner's alone, and no other process can stall the tutor by a lock.

On a shared host every other account may be hostile: files the tutor makes are 0600 and
its folders 0700 whatever the umask, a workspace left open is closed when the tutor opens
it, a pack's link out of its exercise folder is never copied, the tutor's own files are
never reached through a symbolic link, and a lock someone else holds costs a message
naming them within seconds, never a frozen app or a `check` that waits for ever.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from tests.conftest import WILD_PACK
from tests.live_app import KEY_LIMIT
from tests.scripted import ScriptedRunner, by_content, failing
from tests.test_faults_env import notices
from tests.test_faults_packs import run_cli
from tests.test_session import FakeClock
from tests.ui_support import make_app, settle, until
from tutor.core.catalog import Exercise
from tutor.core.course import open_course
from tutor.core.files import OutsideFolder
from tutor.core.progress import Progress
from tutor.core.workspace import Workspace
from tutor.runner import Runner
from tutor.session import Session
from tutor.watcher import Watcher

pytestmark = pytest.mark.fault

WITHIN = 5.0  # seconds in which a lock held elsewhere must be named
HOLD = 12.0  # seconds a holder keeps its lock at most: longer than WITHIN, so waiting shows
SECRET = "API_TOKEN = 'only mine'\n"


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The umask most accounts have (022): without explicit modes, files come out 644."""
    before = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(before)


def every_path(root: Path) -> list[Path]:
    return [root, *sorted(root.rglob("*"))]


def loose(root: Path) -> list[str]:
    """Each folder not 0700 and each file not 0600 under ``root``, with its mode."""
    found = []
    for path in every_path(root):
        info = path.lstat()
        want = 0o700 if stat.S_ISDIR(info.st_mode) else 0o600
        if stat.S_ISLNK(info.st_mode):
            continue
        if stat.S_IMODE(info.st_mode) != want:
            found.append(f"{oct(stat.S_IMODE(info.st_mode))} {path.relative_to(root)}")
    return found


@contextlib.contextmanager
def held_elsewhere(path: Path, hold: float = HOLD) -> Iterator[subprocess.Popen[str]]:
    """Another process holding an ``flock`` on ``path``, opened read-only as anyone could."""
    code = (
        "import fcntl, os, sys, time\n"
        "fd = os.open(sys.argv[1], os.O_RDONLY | os.O_CREAT, 0o600)\n"
        "fcntl.flock(fd, fcntl.LOCK_EX)\n"
        "print('held', flush=True)\n"
        "time.sleep(float(sys.argv[2]))\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code, str(path), str(hold)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "held"
        yield process
    finally:
        process.kill()
        process.wait()


def pack_copy(tmp_path: Path) -> Path:
    pack = tmp_path / "pack"
    shutil.copytree(WILD_PACK, pack)
    return pack


# ----- private by default


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o000], ids=["022", "002", "000"])
def test_a_fresh_workspace_is_private_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    os.umask(umask)
    workspace = tmp_path / "ws"
    course = open_course(WILD_PACK, workspace)
    exercise = course.catalog.exercises[0]
    course.progress.current = exercise.key
    assert course.save_progress() is None  # progress.json, its lock and the temporary
    assert course.workspace.reset(exercise) is not None  # a backup, and a new problem.py
    claim = course.workspace.claim()  # tutor.lock
    claim.release()
    Watcher(workspace, [], lambda key: None).probe()  # the watcher's check file

    async def log_once() -> None:
        runner = Runner(log=course.workspace.state / "worker.log")
        runner.worker = ("-c", "import sys; print('to the log', file=sys.stderr)")
        await runner.start()
        assert runner.process is not None
        await runner.process.wait()
        await runner.close()

    asyncio.run(log_once())
    made = {p.relative_to(workspace).as_posix() for p in every_path(workspace)}
    for expected in ("backups", "progress.json", ".progress.json.lock", "tutor.lock"):
        assert any(name.endswith(expected) for name in made), made
    assert (course.workspace.state / "worker.log").read_text().strip() == "to the log"
    assert loose(workspace) == []


def test_the_default_workspace_folders_are_private(tmp_path: Path, isolated_home: Path) -> None:
    pack = pack_copy(tmp_path)  # another pack: its workspace is under ~/attn-tutor/packs/
    course = open_course(pack, None)
    assert course.workspace.root.parent == isolated_home / "attn-tutor" / "packs"
    assert loose(isolated_home / "attn-tutor") == []


def open_up(workspace: Path) -> None:
    """What an earlier version left under umask 022: every folder 755, every file 644."""
    for path in every_path(workspace):
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() else 0o644)


def test_an_open_workspace_is_made_private_with_one_notice(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace = tmp_path / "ws"
    course = open_course(WILD_PACK, workspace)
    course.save_progress()
    course.workspace.reset(course.catalog.exercises[0])
    state = course.workspace.state
    (state / "worker.log").write_text("an old log\n")
    (state / "progress.json.broken-20240101-000000").write_text("{}")
    # Beside them, things the tutor must not change: a link to a file elsewhere, and (when
    # the test can make one) a file that belongs to another user.
    elsewhere = tmp_path / "elsewhere.txt"
    elsewhere.write_text("not the tutor's\n")
    elsewhere.chmod(0o644)
    (state / "a-link").symlink_to(elsewhere)
    theirs = state / "theirs.txt"
    theirs.write_text("another user's\n")
    if os.geteuid() == 0:
        os.chown(theirs, 65534, 65534)
    open_up(workspace)

    code, _, err = run_cli(
        capsys, "list", "--exercises", str(WILD_PACK), "--workspace", str(workspace)
    )
    assert code == 0, err
    notices = [line for line in err.splitlines() if "other users" in line]
    assert len(notices) == 1, err
    assert str(workspace) in notices[0]
    if os.geteuid() == 0:
        assert stat.S_IMODE(theirs.stat().st_mode) == 0o644
    theirs.unlink()
    assert stat.S_IMODE(elsewhere.stat().st_mode) == 0o644  # the link was not followed
    assert loose(workspace) == []

    code, _, err = run_cli(
        capsys, "list", "--exercises", str(WILD_PACK), "--workspace", str(workspace)
    )
    assert "other users" not in err  # said once: the workspace is private now


def test_the_app_shows_the_notice(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    open_course(WILD_PACK, workspace)
    open_up(workspace)

    async def scenario() -> None:
        app = make_app(WILD_PACK, workspace, ScriptedRunner(failing), watch=False)
        async with app.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            shown = [n.message for n in app._notifications if "other users" in n.message]
            assert len(shown) == 1

    asyncio.run(scenario())
    assert loose(workspace) == []


# ----- nothing is copied from a pack through a link out of its exercise folder


def secret_file(tmp_path: Path) -> Path:
    secret = tmp_path / "private" / "secret.py"
    secret.parent.mkdir()
    secret.write_text(SECRET)
    secret.chmod(0o600)
    return secret


def test_a_skeleton_leading_out_of_its_folder_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pack = pack_copy(tmp_path)
    skeleton = pack / "02-relative-import" / "problem.py"
    skeleton.unlink()
    skeleton.symlink_to(secret_file(tmp_path))
    workspace = tmp_path / "ws"
    code, out, err = run_cli(
        capsys, "list", "--exercises", str(pack), "--workspace", str(workspace)
    )
    assert code == 0, err
    refused = [line for line in err.splitlines() if str(skeleton) in line]
    assert len(refused) == 1, err
    assert "Traceback" not in err
    assert re.findall(r"^[> ] (\d\d)  ", out, re.M) == ["01", "03"]  # the rest goes on
    assert not (workspace / "02-relative-import" / "problem.py").exists()
    for path in every_path(workspace):
        assert not path.is_file() or SECRET not in path.read_text(errors="replace"), path


def test_reset_never_copies_a_skeleton_that_leads_out(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pack = pack_copy(tmp_path)
    workspace = tmp_path / "ws"
    course = open_course(pack, workspace)
    mine = course.problem(course.catalog.exercises[0])
    mine.write_text("my work\n")
    skeleton = pack / "01-plain-import" / "problem.py"
    skeleton.unlink()
    skeleton.symlink_to(secret_file(tmp_path))
    code, _, err = run_cli(
        capsys, "reset", "01", "--exercises", str(pack), "--workspace", str(workspace)
    )
    assert code == 2
    assert err.strip().splitlines()[-1].startswith("attn-tutor: ")
    assert str(skeleton) in err
    assert "outside the exercise folder" in err
    assert mine.read_text() == "my work\n"
    # The workspace refuses it too, for an exercise that got past the catalog's check.
    exercise = Exercise(path=pack / "01-plain-import", number=1, slug="plain", title="Plain")
    with pytest.raises(OutsideFolder, match="leads outside its exercise folder"):
        Workspace(workspace).reset(exercise)
    assert mine.read_text() == "my work\n"


# ----- locks that no one else can hold for long


def test_a_progress_lock_held_elsewhere_is_named_within_seconds(tmp_path: Path) -> None:
    path = tmp_path / "progress.json"
    progress = Progress(path=path)
    progress.current = "01"
    with held_elsewhere(tmp_path / ".progress.json.lock") as holder:
        started = time.monotonic()
        with pytest.raises(OSError, match=f"process {holder.pid}") as refused:
            progress.save()
        assert time.monotonic() - started < WITHIN
    assert "\n" not in str(refused.value)
    assert not path.exists()
    progress.save()  # free again: saved
    assert json.loads(path.read_text())["current"] == "01"


def test_cli_says_who_holds_the_progress_lock(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace = tmp_path / "ws"
    open_course(None, workspace)  # the built-in pack: its exercises have hints
    with held_elsewhere(workspace / ".attn-tutor" / ".progress.json.lock") as holder:
        started = time.monotonic()
        code, out, err = run_cli(capsys, "hint", "02", "--workspace", str(workspace))
        assert time.monotonic() - started < WITHIN
    assert code == 0
    assert out  # the hint is shown all the same
    said = [line for line in err.splitlines() if "could not save progress" in line]
    assert len(said) == 1, err
    assert f"process {holder.pid}" in said[0]
    assert "your code is safe" in said[0]


@pytest.mark.slow
def test_check_ends_with_a_line_naming_the_holder(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    open_course(WILD_PACK, workspace)
    lock = workspace / ".attn-tutor" / ".progress.json.lock"
    with held_elsewhere(lock, hold=300) as holder:  # longer than a worker takes to start
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "tutor",
                "check",
                "01",
                "--exercises",
                str(WILD_PACK),
                "--workspace",
                str(workspace),
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert holder.poll() is None, "check waited for the holder to end"
    assert result.returncode == 1, result.stdout + result.stderr  # the skeleton fails
    said = [line for line in result.stderr.splitlines() if "could not save progress" in line]
    assert len(said) == 1, result.stderr
    assert f"process {holder.pid}" in said[0]


def test_a_loose_lock_file_someone_opened_before_no_longer_holds_anything(
    tmp_path: Path,
) -> None:
    workspace = tmp_path / "ws"
    open_course(WILD_PACK, workspace).save_progress()
    lock = workspace / ".attn-tutor" / ".progress.json.lock"
    open_up(workspace)  # as an earlier version left it: anyone could open the lock file
    with held_elsewhere(lock):
        course = open_course(WILD_PACK, workspace)
        course.progress.current = "02-relative-import"
        started = time.monotonic()
        assert course.save_progress() is None
        assert time.monotonic() - started < 1.0
    assert json.loads((lock.parent / "progress.json").read_text())["current"] == (
        "02-relative-import"
    )


def test_the_claim_names_whoever_holds_the_workspace(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    course = open_course(WILD_PACK, workspace)
    with held_elsewhere(workspace / ".attn-tutor" / "tutor.lock") as holder:
        started = time.monotonic()
        claim = course.workspace.claim()
        assert time.monotonic() - started < WITHIN
        assert f"process {holder.pid}" in str(claim.other)
        assert claim.fd is None
    again = course.workspace.claim()
    assert again.other is None
    again.release()


def test_keys_answer_while_the_progress_lock_is_held_elsewhere(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    open_course(WILD_PACK, workspace)
    state = workspace / ".attn-tutor"

    async def scenario() -> None:
        app = make_app(WILD_PACK, workspace, ScriptedRunner(by_content), watch=False)

        def on(key: str) -> bool:
            return app.exercise.key == key

        with held_elsewhere(state / ".progress.json.lock") as holder:
            async with app.run_test(size=(120, 40)) as pilot:
                await settle(pilot)
                assert f"process {holder.pid}" in notices(app)
                for key in ("02-relative-import", "03-solution-import"):
                    started = asyncio.get_running_loop().time()
                    await pilot.press("n")
                    await until(pilot, partial(on, key))
                    assert asyncio.get_running_loop().time() - started < KEY_LIMIT
                told = [n for n in notices(app).splitlines() if "could not save progress" in n]
                assert len(told) == 1  # told once, not at every key
                holder.kill()
                holder.wait()
                await pilot.press("p")  # the lock is free: this save writes everything
                await until(pilot, partial(on, "02-relative-import"))
                assert "saved again" in notices(app)
                stored = json.loads((state / "progress.json").read_text())
                assert stored["current"] == "02-relative-import"
                assert stored["exercises"]["01-plain-import"]["attempts"] == 1

    asyncio.run(scenario())


def test_a_save_the_lock_kept_back_is_tried_again(tmp_path: Path) -> None:
    course = open_course(WILD_PACK, tmp_path / "ws")
    clock = FakeClock()
    session = Session(course, ScriptedRunner(failing), clock=clock, watch=False)
    told: list[str] = []
    session.listen(lambda update: told.append(getattr(update, "text", "")))
    second = course.catalog.exercises[1]
    with held_elsewhere(course.workspace.state / ".progress.json.lock") as holder:
        started = time.monotonic()
        session.open(second, run=False)
        assert time.monotonic() - started < KEY_LIMIT
        assert any(f"process {holder.pid}" in text for text in told)
    clock.advance(60)  # nothing else happens within the minute: a retry alone saves
    stored = json.loads((course.workspace.state / "progress.json").read_text())
    assert stored["current"] == second.key
    assert any("saved again" in text for text in told)


# ----- the tutor's own files are never reached through a link


@pytest.mark.parametrize("name", ["tutor.lock", ".progress.json.lock"])
def test_a_lock_file_that_is_a_link_leaves_its_target_alone(tmp_path: Path, name: str) -> None:
    workspace = tmp_path / "ws"
    course = open_course(WILD_PACK, workspace)
    precious = tmp_path / "precious.txt"
    precious.write_text("years of notes\n")
    (course.workspace.state / name).symlink_to(precious)
    claim = course.workspace.claim()
    claim.release()
    failure = course.save_progress()
    assert precious.read_text() == "years of notes\n"
    said = claim.problem if name == "tutor.lock" else str(failure)
    assert str(course.workspace.state / name) in said
    assert "symbolic link" in said


@pytest.mark.parametrize("level", ["backups", "backups/01-plain-import"])
def test_reset_refuses_a_backups_folder_that_is_a_link(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], level: str
) -> None:
    workspace = tmp_path / "ws"
    course = open_course(WILD_PACK, workspace)
    mine = course.problem(course.catalog.exercises[0])
    mine.write_text("my work\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    link = course.workspace.state / level
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(elsewhere)
    code, _, err = run_cli(
        capsys, "reset", "01", "--exercises", str(WILD_PACK), "--workspace", str(workspace)
    )
    assert code == 2
    last = err.strip().splitlines()[-1]
    assert str(link) in last
    assert "symbolic link" in last
    assert list(elsewhere.iterdir()) == []
    assert mine.read_text() == "my work\n"


def test_a_progress_file_that_is_a_link_is_neither_read_nor_replaced(tmp_path: Path) -> None:
    workspace = tmp_path / "ws"
    open_course(WILD_PACK, workspace)
    elsewhere = tmp_path / "elsewhere.json"
    record = {"version": 1, "current": "03-solution-import", "exercises": {}}
    elsewhere.write_text(json.dumps(record))
    path = workspace / ".attn-tutor" / "progress.json"
    path.symlink_to(elsewhere)
    course = open_course(WILD_PACK, workspace)
    assert course.progress.current is None  # not read through the link
    told = [m for m in course.messages if str(path) in m]
    assert len(told) == 1
    assert "symbolic link" in told[0]
    course.progress.current = "01-plain-import"
    failure = course.save_progress()
    assert failure is not None
    assert "symbolic link" in str(failure)
    assert path.is_symlink()
    assert json.loads(elsewhere.read_text()) == record


def test_a_state_folder_that_is_a_link_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    workspace = tmp_path / "ws"
    workspace.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (workspace / ".attn-tutor").symlink_to(elsewhere)
    code, _, err = run_cli(
        capsys, "hint", "01", "--exercises", str(WILD_PACK), "--workspace", str(workspace)
    )
    assert code == 2
    assert err.count("\n") == 1, err
    assert str(workspace / ".attn-tutor") in err
    assert "symbolic link" in err
    assert list(elsewhere.iterdir()) == []
