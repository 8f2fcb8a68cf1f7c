"""Runs' temporary folders: private to the user, and swept when their worker is gone."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tutor.worker.scratch import new_run_folder, scratch_root, sweep


@pytest.fixture
def temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A temp folder of the test's own, with no per-user runtime folder."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    return tmp_path


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def test_the_root_is_private_whatever_the_umask(temp: Path) -> None:
    old = os.umask(0o022)
    try:
        root = scratch_root()
        run = new_run_folder(root)
    finally:
        os.umask(old)
    assert root == temp / f"attn-tutor-{os.getuid()}"
    assert mode(root) == 0o700
    assert mode(run) == 0o700
    assert run.parent == root


def test_a_loose_root_of_ones_own_is_tightened(temp: Path) -> None:
    loose = temp / f"attn-tutor-{os.getuid()}"
    loose.mkdir()
    loose.chmod(0o777)
    assert scratch_root() == loose
    assert mode(loose) == 0o700


def test_a_symlink_in_the_roots_place_is_never_used(temp: Path) -> None:
    elsewhere = temp / "someone-elses"
    elsewhere.mkdir()
    (temp / f"attn-tutor-{os.getuid()}").symlink_to(elsewhere)
    root = scratch_root()
    assert root.parent == temp
    assert root.name.startswith(f"attn-tutor-{os.getuid()}-")
    assert not root.is_symlink()
    assert mode(root) == 0o700
    assert list(elsewhere.iterdir()) == []


def test_the_runtime_folder_is_preferred_when_it_is_private(
    temp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runtime = temp / "run-user"
    runtime.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    assert scratch_root() == runtime / "attn-tutor"
    runtime.chmod(0o755)  # not a private runtime folder: the temp folder is used instead
    assert scratch_root() == temp / f"attn-tutor-{os.getuid()}"


def test_a_sweep_removes_only_the_folders_of_workers_that_are_gone(temp: Path) -> None:
    root = scratch_root()
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    dead_pid = int(gone.stdout)
    left = root / f"run-{dead_pid}-abc"
    (left / "attn_exercise").mkdir(parents=True)
    (left / "attn_exercise" / "problem.py").write_text("the learner's code\n")
    mine = new_run_folder(root)  # this process stands for a live worker
    # A live process that is not a worker, under a reused id: its folder is a leftover too.
    other = root / f"run-{os.getppid()}-xyz"
    other.mkdir()
    unrelated = root / "notes"
    unrelated.mkdir()
    removed = sweep(root)
    assert sorted(removed) == sorted([left, other])
    assert mine.exists()
    assert unrelated.exists()
    assert not left.exists()
    assert not other.exists()


def test_a_sweep_never_follows_a_symlink_out(temp: Path) -> None:
    root = scratch_root()
    precious = temp / "precious"
    precious.mkdir()
    (precious / "keep.txt").write_text("keep\n")
    left = root / "run-999999999-abc"
    left.mkdir()
    (left / "link").symlink_to(precious)
    sweep(root)
    assert not left.exists()
    assert (precious / "keep.txt").read_text() == "keep\n"
