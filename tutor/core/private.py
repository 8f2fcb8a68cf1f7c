"""The learner's workspace is theirs alone: folders 0700, files 0600, no symbolic link followed.

On a shared host every other account is a stranger. Whatever the umask, what the tutor
creates is private, and a workspace left open by an earlier version is closed when the
tutor opens it. The tutor's own files (state folder, progress, locks, backups) are never
reached through a symbolic link: one there is named, with what to do, and left alone.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path

FOLDER_MODE = 0o700
FILE_MODE = 0o600
OPEN_TO_OTHERS = 0o077  # group and others: read, write or enter


class SymlinkRefused(OSError):
    """A symbolic link where the tutor keeps a file or folder of its own."""

    def __init__(self, path: Path) -> None:
        super().__init__(
            errno.ELOOP,
            f"{path} is a symbolic link, which the tutor never follows for its own files; "
            "remove the link (move what it points to there if you want to keep it)",
            str(path),
        )

    def __str__(self) -> str:
        return self.strerror or ""


def refuse_symlink(path: Path) -> None:
    """``SymlinkRefused`` when ``path`` is a symbolic link; nothing when it is missing."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if stat.S_ISLNK(mode):
        raise SymlinkRefused(path)


def make_folder(path: Path, *, link_allowed: bool = False) -> None:
    """Create ``path`` (and missing parents) with mode 0700; an existing folder is kept as is.

    A symbolic link at ``path`` is refused unless ``link_allowed`` (the workspace root may be
    the learner's own link to another disk; the tutor's state folders may not).
    """
    try:
        os.mkdir(path, FOLDER_MODE)
    except FileNotFoundError:
        make_folder(path.parent, link_allowed=True)
        with contextlib.suppress(FileExistsError):  # made by another tutor meanwhile
            os.mkdir(path, FOLDER_MODE)
            os.chmod(path, FOLDER_MODE)  # mkdir's mode passes through the umask
    except FileExistsError:
        pass
    else:
        os.chmod(path, FOLDER_MODE)
    if not link_allowed:
        refuse_symlink(path)
    if not path.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), str(path))


def open_private(path: Path, flags: int) -> int:
    """``os.open`` of a file of the tutor's own: created 0600, never through a link."""
    try:
        return os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC, FILE_MODE)
    except OSError as error:
        if error.errno == errno.ELOOP:
            refuse_symlink(path)  # the last part is a link: say so; else the loop error stands
        raise


def write_private(path: Path, data: bytes) -> None:
    """Write a small file of the tutor's own in place (a check file, not learner data)."""
    fd = open_private(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def tighten(path: Path) -> bool:
    """Take group's and others' rights off a folder or plain file the learner owns.

    Never follows a link and never touches what belongs to someone else. Returns True when
    the mode changed.
    """
    try:
        before = os.lstat(path)
    except OSError:
        return False
    if not (stat.S_ISDIR(before.st_mode) or stat.S_ISREG(before.st_mode)):
        return False  # links, pipes and devices are left as they are
    if before.st_uid != os.geteuid() or not before.st_mode & OPEN_TO_OTHERS:
        return False
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        now = os.fstat(fd)
        if (now.st_dev, now.st_ino) != (before.st_dev, before.st_ino):
            return False  # replaced between the look and the open
        os.fchmod(fd, stat.S_IMODE(now.st_mode) & ~OPEN_TO_OTHERS)
    except OSError:
        return False
    finally:
        os.close(fd)
    return True


def open_to_others(path: Path) -> bool:
    """Whether a plain file or folder (not followed if a link) is open to group or others."""
    try:
        info = os.lstat(path)
    except OSError:
        return False
    return not stat.S_ISLNK(info.st_mode) and bool(info.st_mode & OPEN_TO_OTHERS)
