"""The learner's own copies of each exercise's ``problem.py``.

The pristine pack is never edited. The workspace holds one folder per exercise with
the learner's ``problem.py``, plus the tutor's state in ``.attn-tutor/`` (progress,
backups, logs). Nothing here ever overwrites a learner file without a backup.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from tutor.core import locks
from tutor.core.catalog import PROBLEM_FILE, Catalog, Exercise, PackProblem
from tutor.core.files import (
    OutsideFolder,
    read_inside,
    read_plain_file,
    replace_atomically,
    write_new,
)
from tutor.core.private import SymlinkRefused, make_folder, open_private, open_to_others, tighten

ENV_VAR = "ATTN_TUTOR_WORKSPACE"
STATE_DIR = ".attn-tutor"


class WorkspaceError(Exception):
    """The workspace cannot be used; the message says what to do."""


class Claim:
    """An open tutor's hold on its workspace, so that a second one opened there can say so.

    ``other`` is whoever already holds the workspace (another tutor, or any process that
    holds the lock), or None when this one is the only one. ``problem`` says why the
    workspace could not be claimed at all (a link where the lock file should be).
    """

    def __init__(self, path: Path) -> None:
        self.fd: int | None = None
        self.other: locks.Holder | None = None
        self.problem = ""
        try:
            fd = locks.acquire(path, wait=0)  # a tutor holds it for hours: waiting is no use
        except locks.LockHeld as held:
            written = self.written_pid(path) if held.holder.pid is None else None
            self.other = locks.describe(written) if written else held.holder
            return
        except SymlinkRefused as error:
            self.problem = str(error)
            return
        except OSError:
            return  # a read-only workspace: nothing to hold, nothing to learn
        self.fd = fd
        with contextlib.suppress(OSError):
            # The descriptor is the 0600 file itself, opened without following a link.
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())

    @staticmethod
    def written_pid(path: Path) -> int | None:
        """The process id the holder wrote, where the system cannot name the holder."""
        try:
            fd = open_private(path, os.O_RDONLY)
        except OSError:
            return None
        try:
            return int(os.read(fd, 32).decode().strip() or 0) or None
        except (OSError, ValueError):
            return None
        finally:
            os.close(fd)

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
class Prepared:
    """What opening the workspace did: skeletons copied, exercises refused, modes tightened."""

    created: list[Exercise] = field(default_factory=list)
    refused: list[PackProblem] = field(default_factory=list)
    notice: str = ""  # said once when the workspace had to be made private


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
        return Claim(self.state / f"tutor{locks.SUFFIX}")

    def state_folder(self, *names: str) -> Path:
        """The state folder, or a folder under it: each level a real folder, 0700 when made.

        ``SymlinkRefused`` names a link at any level; nothing is written through one.
        """
        make_folder(self.root, link_allowed=True)  # the learner may keep it on another disk
        path = self.state
        make_folder(path)
        for name in names:
            path = path / name
            make_folder(path)
        return path

    def ensure(self, catalog: Catalog) -> Prepared:
        """Create the workspace, make it private, and copy every skeleton not yet there.

        Never overwrites. A skeleton that cannot be copied safely (a link out of its exercise
        folder) refuses that exercise alone, with its ``PackProblem``.
        """
        try:
            self.state_folder()
        except SymlinkRefused as error:
            raise WorkspaceError(str(error)) from None
        except OSError as error:
            raise WorkspaceError(
                f"cannot create the workspace {self.root} ({error.strerror}); "
                f"choose another with --workspace DIR or ${ENV_VAR}"
            ) from None
        prepared = Prepared(notice=self.make_private(catalog))
        for exercise in catalog.exercises:
            target = self.problem(exercise)
            if target.exists():
                continue
            try:
                data = read_inside(exercise.skeleton, exercise.path)
            except OSError as error:
                if isinstance(error, OutsideFolder):
                    reason = error.reason
                else:
                    reason = f"cannot be read ({error.strerror})"
                prepared.refused.append(PackProblem(exercise.skeleton, reason))
                continue
            try:
                make_folder(target.parent, link_allowed=True)
                write_new(target, data)
            except FileExistsError:
                continue
            except OSError as error:
                raise WorkspaceError(
                    f"cannot write {target} ({error.strerror}); check the workspace's permissions"
                ) from None
            prepared.created.append(exercise)
        return prepared

    def make_private(self, catalog: Catalog) -> str:
        """Take group's and others' rights off what the tutor keeps here; a notice if any.

        The root, the state folder and all under it, each exercise folder and its
        ``problem.py``: only what the learner owns, never through a link. A lock file others
        could open is removed instead (a new one is made when needed): a process that opened
        it before could otherwise hold the lock for as long as it likes.
        """
        changed = 0
        # The root alone may be the learner's own link to another disk: its folder is theirs.
        paths = [self.root.resolve(), self.state]
        for exercise in catalog.exercises:
            paths += [self.root / exercise.key, self.problem(exercise)]
        for path in paths:
            changed += tighten(path)
        if self.state.is_dir() and not self.state.is_symlink():
            for folder, names in walk_own(self.state):
                for name in names:
                    path = folder / name
                    if name.endswith(locks.SUFFIX) and open_to_others(path):
                        with contextlib.suppress(OSError):
                            path.unlink()
                            changed += 1
                    else:
                        changed += tighten(path)
        if not changed:
            return ""
        return (
            f"your workspace {self.root} could be read by other users; "
            "it is now yours alone (folders 0700, files 0600)"
        )

    def reset(self, exercise: Exercise) -> Path | None:
        """Restore the skeleton, keeping the learner's file as a timestamped backup.

        Returns the backup's path (None when there was no file to keep).
        """
        skeleton = read_inside(exercise.skeleton, exercise.path)  # before anything changes
        target = self.problem(exercise)
        backup = self.backup(exercise) if target.is_file() else None
        make_folder(target.parent, link_allowed=True)
        replace_atomically(target, skeleton)
        return backup

    def backup(self, exercise: Exercise) -> Path:
        """Copy the learner's current file into the backups folder (0600, never via a link)."""
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S-%f")
        folder = self.state_folder(self.backups.name, exercise.key)
        backup = folder / f"problem-{stamp}.py"
        write_new(backup, read_plain_file(self.problem(exercise)))
        return backup


def walk_own(top: Path) -> list[tuple[Path, list[str]]]:
    """Every folder under ``top`` (``top`` included) with its entries' names, top first,
    entering no link."""
    found: list[tuple[Path, list[str]]] = []
    pending = [top]
    while pending:
        folder = pending.pop(0)
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        found.append((folder, [entry.name for entry in entries]))
        pending += [Path(e.path) for e in entries if e.is_dir(follow_symlinks=False)]
    return found
