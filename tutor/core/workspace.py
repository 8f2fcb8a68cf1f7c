"""The learner's own copies of each exercise's ``problem.py``.

The pristine pack is never edited. The workspace holds one folder per exercise with
the learner's ``problem.py``, plus the tutor's state in ``.attn-tutor/`` (progress,
backups, logs). Nothing here ever overwrites a learner file without a backup.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import shutil
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tutor.core.catalog import PROBLEM_FILE, Catalog, Exercise
from tutor.core.files import copy_new, replace_atomically

ENV_VAR = "ATTN_TUTOR_WORKSPACE"
STATE_DIR = ".attn-tutor"


class WorkspaceError(Exception):
    """The workspace cannot be used; the message says what to do."""


class Claim:
    """An open tutor's hold on its workspace, so that a second one opened there can say so.

    ``other`` is the process id of a tutor that already holds the workspace (0 when it
    cannot be read), or None when this one is the only one.
    """

    def __init__(self, path: Path) -> None:
        self.fd: int | None = None
        self.other: int | None = None
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:
            return  # a read-only workspace: nothing to hold, nothing to learn
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            try:
                self.other = int(os.read(fd, 32).decode().strip() or 0)
            except (OSError, ValueError):
                self.other = 0
            os.close(fd)
            return
        self.fd = fd
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing releases the lock
            self.fd = None


def default_root(pack: Path, builtin: Path) -> Path:
    """``~/attn-tutor`` for the built-in exercises; a folder of its own for any other pack."""
    home = Path.home() / "attn-tutor"
    if pack.resolve() == builtin.resolve():
        return home
    return home / "packs" / pack_label(pack)


def pack_label(pack: Path) -> str:
    """A name for a pack that no other pack shares: its folder's name and a hash of its path."""
    resolved = pack.resolve()
    digest = hashlib.sha1(str(resolved).encode()).hexdigest()[:8]
    return f"{resolved.name}-{digest}"


def choose_root(explicit: Path | None, pack: Path, builtin: Path) -> Path:
    """``--workspace``, else ``$ATTN_TUTOR_WORKSPACE``, else the per-user default."""
    if explicit is not None:
        return explicit.expanduser()
    from_env = os.environ.get(ENV_VAR, "").strip()
    if from_env:
        return Path(from_env).expanduser()
    return default_root(pack, builtin)


@dataclass
class Workspace:
    """A folder of learner files, one sub-folder per exercise."""

    root: Path

    @property
    def state(self) -> Path:
        return self.root / STATE_DIR

    @property
    def backups(self) -> Path:
        return self.state / "backups"

    def problem(self, exercise: Exercise) -> Path:
        return self.root / exercise.key / PROBLEM_FILE

    def claim(self) -> Claim:
        """Mark the workspace as open in a tutor until ``release``."""
        return Claim(self.state / "tutor.lock")

    def ensure(self, catalog: Catalog) -> list[Exercise]:
        """Create the workspace and copy every skeleton not yet there; never overwrite.

        Returns the exercises whose file was created now.
        """
        try:
            self.state.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise WorkspaceError(
                f"cannot create the workspace {self.root} ({error.strerror}); "
                f"choose another with --workspace DIR or ${ENV_VAR}"
            ) from None
        created = []
        for exercise in catalog.exercises:
            target = self.problem(exercise)
            if target.exists():
                continue
            try:
                target.parent.mkdir(parents=True, exist_ok=True)
                copy_new(exercise.skeleton, target)
            except FileExistsError:
                continue
            except OSError as error:
                raise WorkspaceError(
                    f"cannot write {target} ({error.strerror}); check the workspace's permissions"
                ) from None
            created.append(exercise)
        return created

    def reset(self, exercise: Exercise) -> Path | None:
        """Restore the skeleton, keeping the learner's file as a timestamped backup.

        Returns the backup's path (None when there was no file to keep).
        """
        target = self.problem(exercise)
        backup = self.backup(exercise) if target.is_file() else None
        target.parent.mkdir(parents=True, exist_ok=True)
        replace_atomically(target, exercise.skeleton.read_bytes())
        return backup

    def backup(self, exercise: Exercise) -> Path:
        """Copy the learner's current file into the backups folder."""
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        folder = self.backups / exercise.key
        folder.mkdir(parents=True, exist_ok=True)
        backup = folder / f"problem-{stamp}.py"
        shutil.copy2(self.problem(exercise), backup)
        return backup
