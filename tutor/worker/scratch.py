"""Where runs keep their temporary folders: one private folder per user, swept at start.

A run's folder holds a snapshot of the learner's file, so it must be private, and it must
not outlive the run even when the worker that made it is killed. Folders are named after
their worker's process id; a worker that starts removes every folder whose worker is gone,
so a killed worker's leftovers last only until the next start (the tutor starts a new
worker at once).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import stat
import tempfile
from pathlib import Path

PRIVATE = 0o700
RUN_NAME = re.compile(r"^run-(\d+)-")
WORKER_MODULE = b"tutor.worker.server"


def scratch_root() -> Path:
    """This user's private folder for run folders, created if needed.

    ``$XDG_RUNTIME_DIR`` (a per-user memory file system) when the system provides one,
    else the temp folder. A folder of that name that someone else made, or that is a
    symlink, is never used: a fresh private folder with a random name stands in.
    """
    uid = os.getuid()
    runtime = os.environ.get("XDG_RUNTIME_DIR", "")
    if runtime and owned_private_folder(Path(runtime), uid):
        candidate = Path(runtime) / "attn-tutor"
    else:
        candidate = Path(tempfile.gettempdir()) / f"attn-tutor-{uid}"
    with contextlib.suppress(FileExistsError):
        candidate.mkdir(mode=PRIVATE)
    if owned_private_folder(candidate, uid, tighten=True):
        return candidate
    return Path(tempfile.mkdtemp(prefix=f"attn-tutor-{uid}-"))


def owned_private_folder(path: Path, uid: int, *, tighten: bool = False) -> bool:
    """Whether ``path`` is a real folder of this user that nobody else can enter.

    With ``tighten``, a folder of this user that others could enter is made private first.
    """
    try:
        info = path.lstat()
    except OSError:
        return False
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != uid:
        return False
    if info.st_mode & 0o077 and tighten:
        with contextlib.suppress(OSError):
            path.chmod(PRIVATE)
            info = path.lstat()
    return not info.st_mode & 0o077


def new_run_folder(root: Path) -> Path:
    """A private folder for one run, named after this worker so a later start can sweep it."""
    return Path(tempfile.mkdtemp(prefix=f"run-{os.getpid()}-", dir=root))


def sweep(root: Path) -> list[Path]:
    """Remove the run folders of workers that are no longer running; returns those removed."""
    removed: list[Path] = []
    try:
        entries = list(root.iterdir())
    except OSError:
        return removed
    for entry in entries:
        match = RUN_NAME.match(entry.name)
        if match is None or worker_alive(int(match.group(1))):
            continue
        # rmtree never follows a symlink out of the folder it removes.
        shutil.rmtree(entry, ignore_errors=True)
        if not entry.exists():
            removed.append(entry)
    return removed


def worker_alive(pid: int) -> bool:
    """Whether ``pid`` is a running test worker (a reused process id is not)."""
    if pid == os.getpid():
        return True
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return WORKER_MODULE in command
